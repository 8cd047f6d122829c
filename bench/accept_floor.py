"""What 1,000 flash sale entries a second ask of this machine, measured part by part.

The flash sale issue's goal is 10,000 entries in under 10 s with accept p99 <= 50 ms while the
drain runs: 1,000 entries a second. On 2 cores that leaves at most 2 ms of CPU an entry for
everything (the load generator, the gateway, the function, the emulators and the drain), and a
p99 of 50 ms needs the cores well short of full. This measures what each part costs on its own:

- `ticket+message`: moto's server as the platform runs it (`moto_fidelity`, `moto_speed`, the
  keep-alive handler), holding the template's tables and queues, and nothing else: no gateway,
  no functions, no pollers. Each entry is the accept path's two requests, sent over raw
  keep-alive HTTP (no botocore): the conditional PutItem of the ticket and the SendMessage of
  its entry, with the bodies EnterFlashSaleFunction sends.
- `message`: the same server, and only the SendMessage: all an API Gateway direct SQS
  integration (AWS's Virtual Waiting Room's accept path) would ask of the emulator.
- `gateway`: the whole platform, and `GET /_local/health`, a route the gateway answers itself (no
  function, no emulator): the gateway's own cost a request.
- `entry`: the whole platform, and `POST /flash-sales/{id}/entries` as built (its drain runs).

Each part runs in a fresh process, with the load generator in another one (the standard
library's http.client over `--connections` keep-alive connections): flat out (the ceiling, and
the CPU each side spent an entry) and at `--rate` entries a second offered on a fixed schedule
(open loop: latency counts from an entry's scheduled send).

    .venv/bin/python bench/accept_floor.py [--entries 5000] [--runs 3] [--rate 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer

from shop_local.provision import REGION

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
    import bench.flash_sale as flash_sale
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common
    import flash_sale

PARTS = ("ticket+message", "message", "gateway", "entry")
# moto reads the region and the service from the credential scope; it checks no signature.
SCOPE = "AWS4-HMAC-SHA256 Credential=testing/20261207/{}/{}/aws4_request, Signature=0"


def emulator(
    part: str, count: int
) -> tuple[int, list[list[common.Request]], list[list[common.Request]]]:
    """moto's server with the template's resources, and two sets (flat, paced) of `count`
    entries' requests to it."""
    from shop_local import moto_fidelity, moto_speed
    from shop_local.platform import DEFAULT_TEMPLATE, free_port, use_emulator
    from shop_local.provision import Provisioner
    from shop_local.template import Template

    port = free_port()
    use_emulator(f"http://127.0.0.1:{port}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_fidelity.install()
    moto_speed.install()
    moto_speed.MotoServer("127.0.0.1", port).start()
    provisioner = Provisioner(Template(DEFAULT_TEMPLATE, "shop-local", {}, {}))
    table = provisioner.lookup("FlashSalesTable", None)
    queue = provisioner.lookup("FlashSaleEntriesQueue", None)
    return port, entries(part, count, table, queue), entries(part, count, table, queue)


def entries(part: str, count: int, table: str, queue: str) -> list[list[common.Request]]:
    """The accept path's requests for `count` entries, as EnterFlashSaleFunction makes them."""
    from shop.events import DomainEvent, queue_message
    from shop.flash_sales.events import FlashSaleEntered

    serialize = TypeSerializer().serialize
    sale_id = uuid.uuid4().hex
    made: list[list[common.Request]] = []
    for i in range(count):
        ticket_id = uuid.uuid4().hex
        at = time.time()
        ticket = {
            "pk": f"TICKET#{ticket_id}",
            "sk": "TICKET",
            "queued_sale": f"{sale_id}#{i % 16}",
            "ticket_id": ticket_id,
            "sale_id": sale_id,
            "user_id": f"user-{i}",
            "quantity": 1,
            "state": "QUEUED",
            "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "accepted_at_ms": int(at * 1000),
            "correlation_id": uuid.uuid4().hex,
        }
        put = {
            "TableName": table,
            "Item": {k: serialize(v) for k, v in ticket.items()},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        event = DomainEvent.of(
            FlashSaleEntered(
                sale_id=sale_id, ticket_id=ticket_id, quantity=1, accepted_at_ms=int(at * 1000)
            ),
            event_id=f"FlashSaleEntered:{ticket_id}",
            occurred_at=str(ticket["accepted_at"]),
            correlation_id=str(ticket["correlation_id"]),
        )
        message = {"QueueUrl": queue, "MessageBody": queue_message(event)}
        requests = [
            _aws("dynamodb", "DynamoDB_20120810.PutItem", put),
            _aws("sqs", "AmazonSQS.SendMessage", message),
        ]
        made.append(requests if part == "ticket+message" else requests[1:])
    return made


def _aws(service: str, target: str, body: dict[str, Any]) -> common.Request:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": target,
        "X-Amz-Date": "20261207T000000Z",
        "Authorization": SCOPE.format(REGION, service),
    }
    return ("POST", "/", headers, json.dumps(body))


def one_run(part: str, count: int, connections: int, rate: float) -> dict[str, float]:
    """One part, flat out and then at `rate`, on one fresh server or platform."""
    with tempfile.TemporaryDirectory(prefix="bench-accept-") as state:
        local = None
        if part in ("ticket+message", "message"):
            port, flat, paced = emulator(part, count)
        else:
            from shop_local.platform import LocalPlatform

            local = LocalPlatform(port=0, state_dir=Path(state)).start()
            port = local.port
            flat, paced = platform_entries(local, part, count)
        try:
            time.sleep(1.0)
            idle_before = common.cpu_seconds()
            time.sleep(2.0)
            idle_per_s = (common.cpu_seconds() - idle_before) / 2.0
            result: dict[str, float] = {"idle_cpu_ms_per_s": idle_per_s * 1000}
            for name, entries, offered in (("flat", flat, 0.0), ("paced", paced, rate)):
                cpu_before = common.cpu_seconds()
                load = common.send_load(
                    {
                        "host": "127.0.0.1",
                        "port": port,
                        "entries": entries,
                        "connections": connections,
                        "rate": offered,
                    }
                )
                server_cpu = common.cpu_seconds() - cpu_before
                refused = [status for _, status in load["answers"] if status >= 300]
                if refused:  # a figure of refused requests would flatter the part
                    raise SystemExit(f"{part}: {len(refused)} entries refused")
                latencies = [ms for ms, _ in load["answers"]]
                result |= {
                    f"{name}_per_s": len(latencies) / load["seconds"],
                    f"{name}_p50_ms": common.percentile(latencies, 50),
                    f"{name}_p99_ms": common.percentile(latencies, 99),
                    f"{name}_server_cpu_ms": server_cpu * 1000 / len(latencies),
                    f"{name}_client_cpu_ms": load["cpu"] * 1000 / len(latencies),
                }
            return result
        finally:
            if local is not None:
                local.stop()


def platform_entries(local: Any, part: str, count: int) -> tuple[list[list[common.Request]], ...]:
    """Two sets of `count` entries (flat, paced) of the part, each entry its one request."""
    if part == "gateway":
        health: common.Request = ("GET", "/_local/health", {}, "")
        return [[health]] * count, [[health]] * count
    client = flash_sale.Client(local)
    admin = local.identity.issue("bench-admin", admin=True, ttl_seconds=3600)
    path = f"/flash-sales/{flash_sale.open_sale(client, admin, 100)}/entries"

    def entry(shopper: str) -> list[common.Request]:
        token = local.identity.issue(shopper, ttl_seconds=3600)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return [("POST", path, headers, "{}")]

    return (
        [entry(f"fan-{i}") for i in range(count)],
        [entry(f"paced-fan-{i}") for i in range(count)],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--entries", type=int, default=5000, help="entries per load, per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0, help="entries/s offered, paced")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--mode", choices=["all", "run"], default="all")
    parser.add_argument("--part", choices=PARTS)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    if args.mode == "run":
        print(json.dumps(one_run(args.part, args.entries, args.connections, args.rate)))
        return 0
    print(f"{common.machine(['moto', 'boto3'])}; load average {common.load_average()}")
    for part in args.parts.split(","):
        runs = []
        for i in range(args.runs):
            command = [sys.executable, __file__, "--mode", "run", "--part", part]
            for name in ("entries", "connections", "rate"):
                command += [f"--{name}", str(getattr(args, name))]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{part} run {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))
            runs.append(result)
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{part} median: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
