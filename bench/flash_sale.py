"""A flash sale under a burst, against the local platform over real HTTP (loopback).

`--entries` distinct shoppers (tokens issued before the clock starts) enter one sale of
`--units` units, sent by a bounded load generator of `--connections` keep-alive connections, in
a process of its own (a client does not share the platform's interpreter): as fast as the
platform answers, or with `--rate N` at N entries a second on a fixed schedule (open loop: an
entry that waits for a free connection counts its wait). Measured per run, on a fresh platform
(`LocalPlatform` in this process, as `make run` runs it):

- accept p50/p99 (POST .../entries, from its scheduled send, or its send, to the answer) and
  entries accepted per second;
- time from the first entry until every ticket is decided, and the drain rate (decisions per
  second while the queue drains) beside the template's MaximumConcurrency;
- tickets lost (accepted with a 202, not decided after the drain: goal 0), units oversold
  (won beyond the sale's quantity: goal 0), and the inventory audit;
- fairness: the acceptance rank (the ticket's server-side acceptance time) of each winner.
  Strict first come, first served would make the winners exactly ranks 1..units.

Beside it, `--direct` shoppers each with a one-unit cart go straight to POST /checkout for
`--units` units without the queue, released together: what leveling buys.

    .venv/bin/python bench/flash_sale.py [--entries 10000] [--units 500] [--runs 3] [--rate N]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from shop_local.auth import user_id
from shop_local.flash_sale_demo import moment, mug
from shop_local.platform import LocalPlatform
from shop_local.template import load_template

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.checkout_costs as costs
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import checkout_costs as costs
    import common


class Client:
    """One keep-alive session per load-generator thread."""

    def __init__(self, local: LocalPlatform) -> None:
        self.url = local.url
        self.identity = local.identity
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, method: str, path: str, token: str, body: Any = None) -> requests.Response:
        return self.session().request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
            timeout=120,
        )


def stocked_sku(client: Client, admin: str, quantity: int) -> str:
    sku = f"FLASH-{uuid.uuid4().hex[:8].upper()}"
    created = client.call("POST", "/admin/products", admin, mug(sku))
    assert created.status_code == 201, created.text
    stocked = client.call(
        "PUT", f"/admin/inventory/{sku}", admin, {"warehouse_id": "wh-bench", "quantity": quantity}
    )
    assert stocked.status_code == 200, stocked.text
    return sku


def open_sale(client: Client, admin: str, units: int) -> str:
    """A sale of `units` units (of a new product, stocked with 100 more), open for an hour,
    one unit a shopper: its id."""
    terms = {
        "sku": stocked_sku(client, admin, units + 100),
        "quantity": units,
        "price": {"amount": 499, "currency": "GBP"},
        "starts_at": moment(-60),
        "ends_at": moment(3600),
        "per_customer_limit": 1,
        "hold_seconds": 3600,
    }
    opened = client.call("POST", "/admin/flash-sales", admin, terms)
    assert opened.status_code == 201, opened.text
    return str(opened.json()["sale_id"])


def maximum_concurrency() -> int:
    template = load_template(Path(__file__).resolve().parent.parent / "template.yaml")
    events = template["Resources"]["DecideEntriesFunction"]["Properties"]["Events"]
    return int(events["Entries"]["Properties"]["ScalingConfig"]["MaximumConcurrency"])


def queued_run(entries: int, units: int, connections: int, rate: float) -> dict[str, float]:
    from shop.flash_sales.service import repository, ticket_id_for
    from shop.inventory.audit import audit

    with tempfile.TemporaryDirectory(prefix="bench-flash-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            client = Client(local)
            admin = local.identity.issue("bench-admin", admin=True, ttl_seconds=3600)
            sale_id = open_sale(client, admin, units)
            path = f"/flash-sales/{sale_id}/entries"
            load_entries: list[list[common.Request]] = []
            for i in range(entries):
                headers = {
                    "Authorization": f"Bearer {local.identity.issue(f'fan-{i}', ttl_seconds=3600)}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                }
                # an entry sent again (a broken connection) is the same ticket: safe to resend
                load_entries.append([("POST", path, headers, "{}")])
            load = common.send_load(
                {
                    "host": "127.0.0.1",
                    "port": local.port,
                    "entries": load_entries,
                    "connections": connections,
                    "rate": rate,
                }
            )
            latencies = [ms for ms, _ in load["answers"]]
            refused = Counter(status for _, status in load["answers"] if status != 202)
            accepted_in = float(load["seconds"])
            accepted = entries - sum(refused.values())
            decided_samples: list[tuple[float, int]] = []
            while True:
                sale = repository().sale(sale_id)
                assert sale is not None
                since = time.time() - float(load["first_sent"])
                decided_samples.append((since, int(sale.get("decided", 0))))
                if int(sale.get("decided", 0)) >= accepted or since > 900:
                    break
                time.sleep(0.25)
            decided_in = decided_samples[-1][0]
            local.wait_until_idle(60)
            ids = [ticket_id_for(sale_id, user_id(f"fan-{i}")) for i in range(entries)]
            tickets = list(repository().tickets(ids).values())
            states = Counter(str(t["state"]) for t in tickets)
            undecided = states.get("QUEUED", 0)
            by_arrival = sorted(tickets, key=lambda t: (int(t["accepted_at_ms"]), t["ticket_id"]))
            ranks = [i + 1 for i, t in enumerate(by_arrival) if t["state"] == "WON"]
            sale = repository().sale(sale_id)
            assert sale is not None
            problems = audit()
            # Drain rate: decisions per second between the first and the last decision.
            moving = [(t, d) for t, d in decided_samples if 0 < d < accepted]
            drain = float("nan")
            if len(moving) > 1:
                drain = (moving[-1][1] - moving[0][1]) / (moving[-1][0] - moving[0][0])
            return {
                "accept_p50_ms": common.percentile(latencies, 50),
                "accept_p99_ms": common.percentile(latencies, 99),
                "offered_per_s": rate or float("nan"),
                "accepted_per_s": accepted / accepted_in,
                "accepted_in_s": accepted_in,
                "refused": float(sum(refused.values())),
                "all_decided_s": decided_in,
                "drain_per_s": drain,
                "lost_tickets": float(undecided + (accepted - len(tickets))),
                "oversold_units": float(max(0, int(sale["allocated"]) - units)),
                "won": float(states.get("WON", 0)),
                "winners_in_first_units": float(sum(1 for r in ranks if r <= units)),
                "worst_winner_rank": float(max(ranks) if ranks else 0),
                "audit_problems": float(len(problems)),
            }
        finally:
            local.stop()


def direct_run(shoppers: int, units: int) -> dict[str, float]:
    """The same kind of crowd sent straight to checkout, without the queue."""
    with tempfile.TemporaryDirectory(prefix="bench-flash-direct-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            client = Client(local)
            admin = local.identity.issue("bench-admin", admin=True, ttl_seconds=3600)
            sku = stocked_sku(client, admin, units)
            tokens = [local.identity.issue(f"buyer-{i}", ttl_seconds=3600) for i in range(shoppers)]
            with ThreadPoolExecutor(max_workers=64) as pool:
                filled = pool.map(
                    lambda t: client.call("POST", "/cart/items", t, {"sku": sku, "quantity": 1}),
                    tokens,
                )
                assert all(r.status_code == 200 for r in filled)
            barrier = threading.Barrier(shoppers)
            answers: list[float] = []
            outcomes: Counter[str] = Counter()

            def one(token: str) -> None:
                barrier.wait()
                sent = time.perf_counter()
                started = client.call(
                    "POST",
                    "/checkout",
                    token,
                    {"payment_method": "pm_card_visa", "shipping_address": costs.ADDRESS},
                )
                answers.append((time.perf_counter() - sent) * 1000)
                if started.status_code != 202:
                    outcomes[f"http {started.status_code}"] += 1
                    return
                checkout_id = started.json()["checkout_id"]
                while True:
                    polled = client.call("GET", f"/checkout/{checkout_id}", token)
                    if polled.status_code != 200:  # a 503 under the crowd: as told, later
                        outcomes[f"poll answered {polled.status_code}"] += 1
                        time.sleep(float(polled.headers.get("Retry-After", "1")))
                        continue
                    view = polled.json()
                    if view["status"] != "PENDING":
                        failure = (view.get("failure") or {}).get("code", "")
                        outcomes[view["status"] + (f" {failure}" if failure else "")] += 1
                        return
                    time.sleep(0.5)

            began = time.monotonic()
            with ThreadPoolExecutor(max_workers=shoppers) as pool:
                list(pool.map(one, tokens))
            return {
                "post_p50_ms": common.percentile(answers, 50),
                "post_p99_ms": common.percentile(answers, 99),
                "all_decided_s": time.monotonic() - began,
                **{f"outcome {k}": float(v) for k, v in outcomes.items()},
            }
        finally:
            local.stop()


def in_fresh_process(args: argparse.Namespace, mode: str) -> dict[str, float]:
    """One run in a process of its own: the emulators keep their state per process."""
    command = [sys.executable, __file__, "--mode", mode]
    for name in ("entries", "units", "connections", "direct", "rate"):
        command += [f"--{name}", str(getattr(args, name))]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--direct", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="entries/s offered; 0: flat out")
    parser.add_argument("--mode", choices=["all", "queued", "direct"], default="all")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    if args.mode == "queued":
        print(json.dumps(queued_run(args.entries, args.units, args.connections, args.rate)))
        return 0
    if args.mode == "direct":
        print(json.dumps(direct_run(args.direct, args.units // 10)))
        return 0
    print(f"MaximumConcurrency of DecideEntriesFunction: {maximum_concurrency()}")
    runs = []
    for i in range(args.runs):
        result = in_fresh_process(args, "queued")
        print(f"queued run {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
        runs.append(result)
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print("queued median: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))
    if args.direct:
        direct = in_fresh_process(args, "direct")
        print(
            f"direct to checkout ({args.direct} buyers, {args.units // 10} units): "
            + ", ".join(f"{k} {v:.1f}" for k, v in direct.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
