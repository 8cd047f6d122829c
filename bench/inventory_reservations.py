"""Stock reservations on one hot SKU, unsharded and sharded, in the local platform.

Starts the local platform in this process (moto + the template's tables) and calls
`shop.inventory.service.reserve` directly, one line of quantity 1 per reservation, so the rate
measured is the service and the emulator, with no gateway or handler in front.

Throughput: for 1, 4 and 16 stock items ("shards") of one SKU in one warehouse, and 1 and 8
client threads, each run makes `--reservations` reservations of a SKU stocked with far more units
than the run can take (checked after the run: no shard may reach zero). Sell-out: `--buyers`
concurrent one-unit reservations (one thread each, released together) against `--units` units,
in 1 stock item and in 8; exactly `--units` must succeed.

For every run `shop.inventory.service._transact` is wrapped (for the benchmark only) to count
transactions and the cancelled ones (a failed condition, or on DynamoDB also a conflict with
another transaction), reported as cancellations per successful reservation. After every run
`shop.inventory.audit.audit()` must find nothing (ledger, stock items and held reservations
agree), and the inventory table is then emptied: moto's Query reads and sorts every item of the
table, so a table that grows run after run would slow the later runs for a reason DynamoDB does
not have. Each figure is the median of `--runs` runs; the runs of the cells are interleaved.

    .venv/bin/python bench/inventory_reservations.py [--reservations 200] [--runs 3]
                                                     [--buyers 200] [--units 50]
                                                     [--markdown OUT.md]
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop import aws
from shop.config import inventory_table
from shop.errors import OutOfStock, Throttled
from shop.inventory import service
from shop.inventory.audit import audit
from shop.inventory.models import ReservationLine, ReserveRequest
from shop_local.platform import LocalPlatform

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

WAREHOUSE = "wh-bench"
SHARDS = (1, 4, 16)
CLIENTS = (1, 8)
SELL_OUT_SHARDS = (1, 8)
STOCK = 1_000_000  # units per throughput SKU: a run takes at most `--reservations` of them
HOLD_SECONDS = 24 * 3600  # nothing may expire (and be swept) while the benchmark runs


# ---------------------------------------------------------------------- counting transactions
@dataclass
class TransactCounts:
    transactions: int = 0
    cancelled: int = 0
    codes: Counter[str] = field(default_factory=Counter)  # why, over every cancelled item


@contextmanager
def counting_transactions() -> Iterator[TransactCounts]:
    """Wrap the service's `_transact` (a module attribute, looked up at each call) to count
    transactions and cancellations; the original is put back on exit."""
    original = service._transact
    counts = TransactCounts()
    lock = threading.Lock()

    def counted(writes: list[dict[str, Any]]) -> list[str] | None:
        codes = original(writes)
        with lock:
            counts.transactions += 1
            if codes is not None:
                counts.cancelled += 1
                counts.codes.update(code for code in codes if code != "None")
        return codes

    service._transact = counted
    try:
        yield counts
    finally:
        service._transact = original


# ---------------------------------------------------------------------- results
@dataclass
class ThroughputRun:
    reservations: int
    seconds: float
    latencies: list[float]  # seconds, one per successful reservation
    transactions: int
    cancelled: int
    failed: Counter[str]  # exception class name -> count (must stay empty)
    busiest_share: float  # of the run's reservations, the share taken from the busiest item
    stock_read_ms: float  # one `stock_levels(sku)` (the read every attempt makes), median of 10

    @property
    def rate(self) -> float:
        return self.reservations / self.seconds


@dataclass
class SellOutRun:
    succeeded: int
    out_of_stock: int
    throttled: int  # gave up after service.MAX_ATTEMPTS cancelled transactions
    other_errors: int
    seconds: float
    transactions: int
    cancelled: int
    codes: Counter[str]


@dataclass
class ThroughputCell:
    shards: int
    clients: int
    runs: list[ThroughputRun] = field(default_factory=list)

    def median(self, value: Callable[[ThroughputRun], float]) -> float:
        return statistics.median(value(run) for run in self.runs)

    @property
    def rate(self) -> float:
        return self.median(lambda r: r.rate)

    @property
    def p50_ms(self) -> float:
        return self.median(lambda r: common.percentile(r.latencies, 50) * 1000)

    @property
    def p99_ms(self) -> float:
        return self.median(lambda r: common.percentile(r.latencies, 99) * 1000)

    @property
    def transactions_per_reservation(self) -> float:
        return self.median(lambda r: r.transactions / r.reservations)

    @property
    def cancellations_per_reservation(self) -> float:
        return self.median(lambda r: r.cancelled / r.reservations)

    @property
    def busiest_share(self) -> float:
        return self.median(lambda r: r.busiest_share)

    @property
    def stock_read_ms(self) -> float:
        return self.median(lambda r: r.stock_read_ms)


@dataclass
class SellOutCell:
    shards: int
    runs: list[SellOutRun] = field(default_factory=list)

    def median(self, value: Callable[[SellOutRun], float]) -> float:
        return statistics.median(value(run) for run in self.runs)


@dataclass
class Report:
    reservations: int
    runs: int
    buyers: int
    units: int
    throughput: list[ThroughputCell]
    sell_out: list[SellOutCell]
    audits: int  # audits run, every one clean
    started: datetime
    seconds: float
    command: str
    loads: tuple[str, str]  # load average (1/5/15 min) at the start and at the end

    def cell(self, shards: int, clients: int) -> ThroughputCell:
        return next(c for c in self.throughput if (c.shards, c.clients) == (shards, clients))


# ---------------------------------------------------------------------- the table
def checked_audit() -> None:
    problems = audit()
    assert problems == [], "inventory audit failed:\n" + "\n".join(problems)


def empty_inventory_table() -> None:
    """Delete every item of the inventory table (the benchmark's own emulator only)."""
    client, table = aws.client("dynamodb"), inventory_table()
    keys: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": "pk, sk"}
    while True:
        response = client.scan(**request)
        keys += response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    for start in range(0, len(keys), 25):
        pending: dict[str, Any] = {
            table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
        }
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def request(sku: str, checkout_id: str) -> ReserveRequest:
    return ReserveRequest(
        checkout_id=checkout_id,
        lines=[ReservationLine(sku=sku, quantity=1)],
        hold_seconds=HOLD_SECONDS,
    )


# ---------------------------------------------------------------------- the measurements
def throughput_run(sku: str, shards: int, clients: int, reservations: int) -> ThroughputRun:
    assert STOCK // shards > reservations, "a shard could run out during the run"
    service.set_stock(sku, WAREHOUSE, STOCK, shards=shards, reference="bench")
    taken = iter(range(reservations))
    take_lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failed: Counter[str] = Counter()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        mine = latencies[index]
        barrier.wait()
        while True:
            with take_lock:
                number = next(taken, None)
            if number is None:
                return
            started = time.perf_counter()
            try:
                service.reserve(request(sku, f"{sku}-{number:06d}"))
            except Exception as error:  # counted, and the run is then refused
                with take_lock:
                    failed[type(error).__name__] += 1
                continue
            mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    with counting_transactions() as counts:
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    assert not failed, f"{sku}: reservations failed: {dict(failed)}"

    levels = [lvl for lvl in service.stock_levels(sku) if lvl.warehouse_id == WAREHOUSE]
    assert len(levels) == shards
    assert min(lvl.available for lvl in levels) > 0, f"{sku}: a shard ran out"
    assert sum(lvl.reserved for lvl in levels) == reservations
    reads = []
    for _ in range(10):
        started = time.perf_counter()
        service.stock_levels(sku)
        reads.append(time.perf_counter() - started)
    every = [latency for mine in latencies for latency in mine]
    return ThroughputRun(
        reservations=len(every),
        seconds=seconds,
        latencies=every,
        transactions=counts.transactions,
        cancelled=counts.cancelled,
        failed=failed,
        busiest_share=max(lvl.reserved for lvl in levels) / reservations,
        stock_read_ms=statistics.median(reads) * 1000,
    )


def sell_out_run(sku: str, shards: int, buyers: int, units: int) -> SellOutRun:
    service.set_stock(sku, WAREHOUSE, units, shards=shards, reference="bench")
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * buyers
    barrier = threading.Barrier(buyers)

    def buyer(index: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            service.reserve(request(sku, f"{sku}-{index:06d}"))
            outcome = "ok"
        except OutOfStock:
            outcome = "out_of_stock"
        except Throttled:
            outcome = "throttled"
        except Exception as error:
            outcome = f"error: {type(error).__name__}"
        spans[index] = (started, time.perf_counter())
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=buyer, args=(i,), daemon=True) for i in range(buyers)]
    with counting_transactions() as counts:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = max(end for _s, end in spans) - min(start for start, _e in spans)

    levels = [lvl for lvl in service.stock_levels(sku) if lvl.warehouse_id == WAREHOUSE]
    assert outcomes["ok"] == units, f"{sku}: {outcomes['ok']} of {units} units reserved"
    unexpected = {k: v for k, v in outcomes.items() if k.startswith("error")}
    assert not unexpected, f"{sku}: reservations failed: {unexpected}"
    assert sum(lvl.available for lvl in levels) == 0
    assert sum(lvl.reserved for lvl in levels) == units
    return SellOutRun(
        succeeded=outcomes["ok"],
        out_of_stock=outcomes["out_of_stock"],
        throttled=outcomes["throttled"],
        other_errors=sum(unexpected.values()),
        seconds=seconds,
        transactions=counts.transactions,
        cancelled=counts.cancelled,
        codes=counts.codes,
    )


def measure(reservations: int, runs: int, buyers: int, units: int, command: str) -> Report:
    logging.getLogger().setLevel(logging.WARNING)
    # 200 buyers share the service's one client, whose pool keeps 50 connections.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    started, clock, load_at_start = datetime.now(UTC), time.perf_counter(), common.load_average()
    throughput = [ThroughputCell(s, c) for s in SHARDS for c in CLIENTS]
    sell_out = [SellOutCell(s) for s in SELL_OUT_SHARDS]
    audits = 0

    def settle() -> None:
        nonlocal audits
        checked_audit()
        audits += 1
        empty_inventory_table()

    with tempfile.TemporaryDirectory(prefix="bench-platform-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            # Warm-up (clients, connections, code paths), not recorded.
            throughput_run("bench-warmup", 4, 8, min(reservations, 50))
            settle()
            for run in range(runs):
                for cell in throughput:
                    sku = f"bench-hot-s{cell.shards}-c{cell.clients}-r{run}"
                    cell.runs.append(throughput_run(sku, cell.shards, cell.clients, reservations))
                    settle()
                    print(
                        f"  run {run + 1}: {cell.shards:2} shards, {cell.clients} clients: "
                        f"{cell.runs[-1].rate:6.1f} reservations/s",
                        file=sys.stderr,
                    )
                for sell in sell_out:
                    sku = f"bench-sellout-s{sell.shards}-r{run}"
                    sell.runs.append(sell_out_run(sku, sell.shards, buyers, units))
                    last = sell.runs[-1]
                    print(
                        f"  run {run + 1}: sell-out, {sell.shards} shards: {last.succeeded} ok "
                        f"in {last.seconds:.2f} s, {last.cancelled} cancelled",
                        file=sys.stderr,
                    )
                    if run < runs - 1 or sell is not sell_out[-1]:
                        settle()
            # The last sell-out's state stays: the final check of the whole benchmark.
            checked_audit()
            audits += 1
        finally:
            local.stop()
    return Report(
        reservations=reservations,
        runs=runs,
        buyers=buyers,
        units=units,
        throughput=throughput,
        sell_out=sell_out,
        audits=audits,
        started=started,
        seconds=time.perf_counter() - clock,
        command=command,
        loads=(load_at_start, common.load_average()),
    )


# ---------------------------------------------------------------------- the report
def to_markdown(report: Report) -> str:
    rows = [
        *common.header(
            started=report.started,
            seconds=report.seconds,
            command=report.command,
            loads=report.loads,
            packages=("moto", "boto3"),
        ),
        f"- **Statistic**: every figure is the **median of {report.runs} "
        f"run{'' if report.runs == 1 else 's'}**; the runs of "
        "the rows are interleaved. After every run `shop.inventory.audit.audit()` found no "
        f"problem ({report.audits} audits, the last one over the final sell-out's state), "
        "and the inventory table was then emptied: moto's Query sorts every item of the "
        "table, so a table growing from run to run would slow the later rows for a reason "
        "DynamoDB does not have. The platform's own pollers and schedules run meanwhile, as "
        "in any local run.",
        "",
        f"**Throughput.** One SKU in one warehouse, {STOCK:,} units split over 1, 4 or 16 "
        f"stock items (`set_stock(sku, ..., shards=N)`); each run makes {report.reservations} "
        "one-unit reservations with `shop.inventory.service.reserve`, called in-process and "
        "shared among the client threads. No stock item came near running out (checked after "
        "every run). *Transactions* and *cancellations* are counted by wrapping the service's "
        "`_transact`; a cancellation is a TransactWriteItems the emulator refused, after which "
        "`reserve` reads the stock again and retries. *Busiest item* is the share of the "
        "run's reservations taken from the most used stock item. *Stock read* is one "
        "`stock_levels(sku)`: every shard partition, as `GET /inventory/{sku}` reads them "
        "(a reservation starts at a random shard and stops once the line is covered), "
        "timed alone after the run.",
        "",
        "| Stock items | Client threads | Reservations/s | p50 ms | p99 ms "
        "| Transactions per reservation | Cancellations per reservation | Busiest item "
        "| Stock read ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in report.throughput:
        rows.append(
            f"| {cell.shards} | {cell.clients} | {cell.rate:,.1f} | {cell.p50_ms:.1f} "
            f"| {cell.p99_ms:.1f} | {cell.transactions_per_reservation:.3f} "
            f"| {cell.cancellations_per_reservation:.3f} | {cell.busiest_share:.0%} "
            f"| {cell.stock_read_ms:.1f} |"
        )
    rows += [
        "",
        f"**Sell-out.** {report.buyers} concurrent one-unit reservations (a thread each, "
        f"released together) against {report.units} units, in 1 stock item or split over "
        f"{max(SELL_OUT_SHARDS)}. *Out of stock* is `OutOfStock` (all stock items together "
        f"held fewer units than asked); *gave up* is `Throttled` after {service.MAX_ATTEMPTS} "
        "cancelled attempts. *Elapsed* runs from the release of the threads to the last "
        "answer.",
        "",
        "| Stock items | Reservations | Units | Succeeded | Out of stock | Gave up "
        "| Elapsed s | Transactions | Cancellations | Cancellations per success |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sell in report.sell_out:
        rows.append(
            f"| {sell.shards} | {report.buyers} | {report.units} "
            f"| {sell.median(lambda r: r.succeeded):.0f} "
            f"| {sell.median(lambda r: r.out_of_stock):.0f} "
            f"| {sell.median(lambda r: r.throttled):.0f} "
            f"| {sell.median(lambda r: r.seconds):.2f} "
            f"| {sell.median(lambda r: r.transactions):.0f} "
            f"| {sell.median(lambda r: r.cancelled):.0f} "
            f"| {sell.median(lambda r: r.cancelled / r.succeeded):.2f} |"
        )
    rows += ["", *interpretation(report)]
    return "\n".join(rows) + "\n"


def interpretation(report: Report) -> list[str]:
    few, many = min(SHARDS), max(SHARDS)
    one_1, one_8 = report.cell(few, 1), report.cell(few, max(CLIENTS))
    many_1, many_8 = report.cell(many, 1), report.cell(many, max(CLIENTS))
    per_item_ms = (many_1.stock_read_ms - one_1.stock_read_ms) / (many - few)
    shares = ", ".join(
        f"{report.cell(n, max(CLIENTS)).busiest_share:.0%} with {n}" for n in SHARDS[1:]
    )
    cancelled = sum(run.cancelled for cell in report.throughput for run in cell.runs)
    codes: Counter[str] = Counter()
    for sell in report.sell_out:
        for run in sell.runs:
            codes += run.codes
    why = ", ".join(f"`{code}` x{count}" for code, count in codes.most_common()) or "none"
    single, split = report.sell_out[0], report.sell_out[-1]

    def per_success(cell: SellOutCell) -> float:
        return cell.median(lambda r: r.cancelled / r.succeeded)

    def elapsed(cell: SellOutCell) -> float:
        return cell.median(lambda r: r.seconds)

    if cancelled == 0:
        throughput_cancellations = (
            f"None of the throughput runs had a cancelled transaction. With {STOCK:,} units "
            "the condition `available >= :q` cannot fail, and moto has no counterpart of "
            "DynamoDB's `TransactionConflict` (another transaction in flight on the same "
            "item): under the lock, transactions queue instead."
        )
    else:
        throughput_cancellations = (
            f"The throughput runs had {cancelled} cancelled transactions in all, although "
            f"with {STOCK:,} units the condition `available >= :q` cannot fail; moto has no "
            "counterpart of DynamoDB's `TransactionConflict`, so look for another cause."
        )
    return [
        "**Reading it.** The emulator cannot show what sharding is for. moto_fidelity "
        "serializes every DynamoDB request behind one lock, and the client threads, boto3 and "
        "moto share one Python process and its GIL, so the emulator applies one request at a "
        "time however many stock items or client threads there are. "
        f"{max(CLIENTS)} client threads instead of 1 change the rate by "
        f"x{one_8.rate / one_1.rate:.2f} ({few} item) and x{many_8.rate / many_1.rate:.2f} "
        f"({many} items); the rest of the concurrency is queueing (p50 {one_1.p50_ms:.0f} ms "
        f"-> {one_8.p50_ms:.0f} ms with {few} item). {many} stock items instead of {few} "
        f"change the rate by x{many_1.rate / one_1.rate:.2f} (1 thread) and "
        f"x{many_8.rate / one_8.rate:.2f} ({max(CLIENTS)} threads): a reservation reads one "
        "shard partition while the shard it starts at covers the line, so its cost does not "
        "grow with the number of items. Reading every partition (*stock read*, what "
        "`GET /inventory/{sku}` does) does grow: one Query per partition, and moto builds "
        f"each response attribute by attribute, about {per_item_ms:.1f} ms per partition "
        f"here ({one_1.stock_read_ms:.1f} ms for {few}, {many_1.stock_read_ms:.1f} ms for "
        f"{many}). On DynamoDB these are {many} small Queries, each one read unit.",
        "",
        "What sharding does change here is which item each transaction writes: the busiest "
        f"stock item took {one_8.busiest_share:.0%} of the reservations with {few} item, "
        f"{shares} ({max(CLIENTS)} threads; an even split over "
        f"{many} would be {1 / many:.0%}). On DynamoDB that share is what counts, because "
        "the write limit is per item and per partition (about 1,000 write units a second, "
        "and a transactional write of an item up to 1 KB costs 2): see "
        "[docs/inventory.md](inventory.md#hot-skus) for the arithmetic.",
        "",
        throughput_cancellations
        + " On DynamoDB, concurrent reservations of one item do conflict; `reserve` retries "
        "them, and spreading them over N items makes a conflict roughly N times less likely. "
        "This benchmark cannot measure that.",
        "",
        f"In every sell-out exactly {report.units} of the {report.buyers} reservations "
        "succeeded (asserted), and the audit found ledger, stock items and held reservations "
        "in agreement. The cancellations are lost races "
        f"(reasons over all sell-out runs: {why}): a reservation read a stock item with units "
        "left, another took them first, the condition `available >= :q` refused the "
        "transaction, and `reserve` read the stock again, then either planned on an item "
        "that still had units or found the SKU sold out. Cancellations per success: "
        f"{per_success(single):.2f} with {single.shards} item, {per_success(split):.2f} with "
        f"{split.shards}. The {split.shards}-item sell-out took {elapsed(split):.1f} s "
        f"against {elapsed(single):.1f} s: near sell-out the shard a reservation starts at "
        "is often empty, so it reads more partitions, each at the emulator's cost above.",
    ]


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--reservations", type=int, default=200, help="reservations per throughput run"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per row (median reported)")
    parser.add_argument("--buyers", type=int, default=200, help="concurrent sell-out requests")
    parser.add_argument("--units", type=int, default=50, help="units in a sell-out")
    args = common.parse_arguments(parser, arguments)
    print(
        f"inventory reservations: {args.runs} runs of {args.reservations} reservations per row; "
        f"sell-out {args.buyers} for {args.units}",
        file=sys.stderr,
    )
    command = common.command_line(__file__, arguments)
    report = measure(args.reservations, args.runs, args.buyers, args.units, command)
    common.publish(to_markdown(report), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
