"""Checkout under a crowd: checkouts/s and p50/p99 latency with 1, 8, 32 and 200 concurrent
buyers, each checking out once, through the local platform over real HTTP.

Every buyer has a one-line cart (one unit of one of 8 SKUs with plenty of stock), filled before
the clock starts; the buyers of a row are released together and each POSTs /checkout, then polls
GET /checkout/{id} until it is no longer PENDING. *Checkout* runs from sending the POST to the
poll that saw the outcome. Rows are interleaved run by run; each figure is the median across
runs. Every checkout must succeed and every response must be below 500 (the benchmark stops
otherwise).
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop_local.functions import LOCAL_CONCURRENCY
from shop_local.platform import LocalPlatform

if TYPE_CHECKING:
    import bench.checkout_costs as costs
    import bench.common as common
else:
    import checkout_costs as costs
    import common

PACKAGES = ("moto", "boto3", "localstripe", "stripe")
CROWDS = (1, 8, 32, 200)
# Each buyer polls every POLL_SECONDS x max(1, buyers / 8): the crowd sends at most about 32
# polls a second; 200 buyers polling every 250 ms would mostly measure their own polls.
POLL_SECONDS = 0.25
SETTLE_SECONDS = 600


@dataclass
class Row:
    buyers: int
    seconds: float  # release of the buyers -> the last outcome seen
    latencies: list[float]  # seconds, one per checkout
    refused: int = 0  # POST /checkout answered 503 + Retry-After, then sent again

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, q: float) -> float:
        return common.percentile(self.latencies, q) * 1000


def start_checkout(client: costs.Client, user: str) -> tuple[dict[str, Any], int]:
    """POST /checkout as a shopper's client sends it: a 503 (a dependency too slow for its
    deadline, the circuit open) is sent again after its Retry-After, with the same
    Idempotency-Key. The accepted checkout, and how many 503s came first."""
    key, refused = uuid.uuid4().hex, 0
    while True:
        response = client.send(
            "POST",
            "/checkout",
            user,
            body={"payment_method": "pm_card_visa", "shipping_address": costs.ADDRESS},
            headers={"Idempotency-Key": key},
        )
        if response.status_code == 503 and "Retry-After" in response.headers:
            refused += 1
            time.sleep(float(response.headers["Retry-After"]))
            continue
        if response.status_code != 202:
            raise RuntimeError(f"POST /checkout: {response.status_code} {response.text}")
        accepted: dict[str, Any] = response.json()
        return accepted, refused


def one_checkout(
    client: costs.Client, user: str, gate: threading.Barrier, poll: float
) -> tuple[float, int]:
    gate.wait()
    started = time.perf_counter()
    accepted, refused = start_checkout(client, user)
    deadline = started + SETTLE_SECONDS
    while True:
        time.sleep(poll)
        view = client.call("GET", f"/checkout/{accepted['checkout_id']}", user)
        if view["status"] != "PENDING":
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{accepted['checkout_id']} still PENDING after {SETTLE_SECONDS}s")
    if view["status"] != "SUCCEEDED":
        raise RuntimeError(f"checkout ended {view['status']}: {view}")
    return time.perf_counter() - started, refused


def poll_seconds(buyers: int) -> float:
    return POLL_SECONDS * max(1.0, buyers / 8)


def crowd_run(client: costs.Client, skus: list[str], buyers: int, tag: str) -> Row:
    users = [f"crowd-{tag}-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(buyers)]
    for i, user in enumerate(users):  # carts first, outside the clock
        sku = skus[i % len(skus)]
        client.call("POST", "/cart/items", user, body={"sku": sku, "quantity": 1})
    gate = threading.Barrier(buyers + 1)
    poll = poll_seconds(buyers)
    with ThreadPoolExecutor(max_workers=buyers) as pool:
        futures = [pool.submit(one_checkout, client, user, gate, poll) for user in users]
        gate.wait()
        started = time.perf_counter()
        outcomes = [future.result() for future in futures]
        seconds = time.perf_counter() - started
    client.close()
    return Row(buyers, seconds, [t for t, _ in outcomes], sum(r for _, r in outcomes))


@dataclass
class Report:
    rows: dict[int, list[Row]]
    runs: int
    started: datetime
    seconds: float
    command: str
    commit: str
    loads: tuple[str, str]
    load_during: list[str]


def measure(crowds: Sequence[int], runs: int, command: str) -> Report:
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    started, clock, load_at_start = datetime.now(UTC), time.perf_counter(), common.load_average()
    commit = common.git_revision()
    rows: dict[int, list[Row]] = {n: [] for n in crowds}
    load_during: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-crowd-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            client = costs.Client(local)
            client.timeout = SETTLE_SECONDS  # a crowd's requests queue: waiting is not failing
            skus = costs.stock_skus(client, f"crowd-{uuid.uuid4().hex[:6]}")
            crowd_run(client, skus, 2, "warmup")  # every handler loaded before the clock
            local.wait_until_idle()
            for run in range(runs):
                for buyers in crowds:
                    rows[buyers].append(crowd_run(client, skus, buyers, f"r{run}b{buyers}"))
                    local.wait_until_idle()
                    load_during.append(common.load_average())
                    row = rows[buyers][-1]
                    print(
                        f"  run {run + 1}, {buyers} buyers: {row.rate:.2f} checkouts/s, "
                        f"p50 {row.p(50):.0f} ms, p99 {row.p(99):.0f} ms, 503s {row.refused}",
                        file=sys.stderr,
                    )
        finally:
            local.stop()
    return Report(
        rows=rows,
        runs=runs,
        started=started,
        seconds=time.perf_counter() - clock,
        command=command,
        commit=commit,
        loads=(load_at_start, common.load_average()),
        load_during=load_during,
    )


def to_markdown(report: Report) -> str:
    lines = [
        "<!-- bench:checkout-crowd -->",
        *common.header(
            started=report.started,
            seconds=report.seconds,
            command=report.command,
            loads=report.loads,
            packages=PACKAGES,
            commit=report.commit,
        ),
        f"- **Load average** after each row (1/5/15 min): {'; '.join(report.load_during)}",
        f"- **Statistic**: **median of {report.runs} runs**; the rows are interleaved run by "
        "run, in one platform process (the tables grow from run to run). The platform runs at "
        f"most {LOCAL_CONCURRENCY} handler invocations at once (`LOCAL_CONCURRENCY`); the "
        "others wait for a slot.",
        "",
        "Each buyer has a one-line cart (one unit, 8 SKUs with 100,000 units each) and checks "
        "out once with `pm_card_visa`; the buyers of a row are released together. *Checkout* "
        f"is from sending POST /checkout to the poll that saw SUCCEEDED (each buyer polls every "
        f"{POLL_SECONDS * 1000:.0f} ms x max(1, buyers / 8), so the crowd sends at most about "
        "32 polls a second: 250 ms up to 8 buyers, 1 s with 32, 6.25 s with 200); *checkouts/s* "
        "is the "
        "row's checkouts over the time from the release to "
        "the last outcome. Every checkout succeeded and no response was a 5xx other than a "
        "503 with Retry-After (the benchmark stops otherwise); a buyer answered 503 sends the "
        "same POST again after its Retry-After, as a client should, and the 503s are counted "
        "(all runs of the row together).",
        "",
        "| Concurrent buyers | Checkouts per run | Checkouts/s | Checkout p50 ms | "
        "Checkout p99 ms | 503s, then sent again |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for buyers, rows in report.rows.items():
        lines.append(
            f"| {buyers} | {buyers} | {statistics.median(r.rate for r in rows):.2f} | "
            f"{statistics.median(r.p(50) for r in rows):.0f} | "
            f"{statistics.median(r.p(99) for r in rows):.0f} | {sum(r.refused for r in rows)} |"
        )
    lines += ["<!-- /bench:checkout-crowd -->", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--crowds", type=int, nargs="+", default=list(CROWDS), help="concurrent buyers per row"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs (median reported)")
    args = common.parse_arguments(parser, arguments)
    command = common.command_line(__file__, arguments)
    report = measure(args.crowds, args.runs, command)
    common.publish(to_markdown(report), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
