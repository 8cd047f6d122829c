"""Catalog reads through the local API gateway, beside the same reads made directly on the emulator.

Starts the local platform in this process (moto + the local API gateway), seeds demo products,
then measures two reads with 1 and 8 concurrent clients:

    get   GET /products/{id}      vs  dynamodb get_item on PRODUCT#<id> / PRODUCT
    list  GET /products?limit=20  vs  dynamodb query on ListedIndex, listed = ACTIVE, Limit 20

Gateway clients are real HTTP clients (one keep-alive `requests.Session` per client thread);
direct clients have one boto3 DynamoDB client each, pointed at the emulator. `get` picks product
ids at random (seeded) from the seeded products. Every response is checked (status, the product
asked for, 20 items) and failures are counted. Each measurement is a warm-up, then `--runs` runs
of `--duration` seconds each; the table shows the median of the runs.

    .venv/bin/python bench/catalog_reads.py [--products 500] [--duration 3] [--runs 3]
                                            [--markdown OUT.md]
"""

from __future__ import annotations

import logging
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import requests
from botocore.config import Config

from shop.catalog.models import NewProduct
from shop.catalog.repository import LISTED, product_key
from shop.catalog.service import seed_catalog
from shop_local.demo_catalog import build_demo_catalog
from shop_local.gateway import _GatewayRequestHandler
from shop_local.platform import LocalPlatform
from shop_local.provision import REGION

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

PAGE = 20
CLIENTS = (1, 8)
OPERATIONS = {
    "get": ("GET /products/{id}", "get_item"),
    "list": (f"GET /products?limit={PAGE}", f"query ListedIndex, Limit {PAGE}"),
}
GATEWAY, NODELAY, DIRECT = "gateway", "gateway, TCP_NODELAY", "direct"

# One request: True if the response was the expected one.
Call = Callable[[], bool]


@dataclass
class Run:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds, every request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        return common.percentile(self.latencies, q) * 1000


@dataclass
class Cell:
    operation: str  # a key of OPERATIONS
    path: str  # gateway | direct
    clients: int
    runs: list[Run] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.percentile_ms(50) for r in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.percentile_ms(99) for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)


@dataclass
class ReadsReport:
    products: int
    duration: float
    warmup: float
    runs: int
    cells: list[Cell]
    get_bytes: int  # size of one GET /products/{id} response body
    list_bytes: int  # size of one GET /products?limit=20 response body
    nodelay: bool  # whether the TCP_NODELAY diagnostic rows (one client) were measured

    def cell(self, operation: str, path: str, clients: int) -> Cell | None:
        wanted = (operation, path, clients)
        return next((c for c in self.cells if (c.operation, c.path, c.clients) == wanted), None)


# ---------------------------------------------------------------------- the clients
def gateway_call(operation: str, base_url: str, ids: list[str], seed: int) -> Call:
    session = requests.Session()
    rng = random.Random(seed)
    if operation == "get":

        def get() -> bool:
            product_id = rng.choice(ids)
            response = session.get(f"{base_url}/products/{product_id}", timeout=30)
            return response.status_code == 200 and response.json()["product_id"] == product_id

        return get

    def list_page() -> bool:
        response = session.get(f"{base_url}/products", params={"limit": PAGE}, timeout=30)
        return response.status_code == 200 and len(response.json()["items"]) == PAGE

    return list_page


def direct_call(operation: str, endpoint: str, table: str, ids: list[str], seed: int) -> Call:
    client: Any = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        aws_session_token="local",
        # As the handlers' own client (shop.aws) is configured.
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            max_pool_connections=50,
        ),
    )
    rng = random.Random(seed)
    if operation == "get":

        def get() -> bool:
            product_id = rng.choice(ids)
            response = client.get_item(TableName=table, Key=product_key(product_id))
            return bool(response.get("Item", {}).get("product_id", {}).get("S") == product_id)

        return get

    def list_page() -> bool:
        response = client.query(
            TableName=table,
            IndexName="ListedIndex",
            KeyConditionExpression="listed = :v",
            ExpressionAttributeValues={":v": {"S": LISTED}},
            Limit=PAGE,
        )
        return len(response.get("Items", [])) == PAGE

    return list_page


@contextmanager
def gateway_nodelay() -> Iterator[None]:
    """Diagnostic only: the local gateway sends a response's headers and body in two writes, so
    with Nagle's algorithm on, the body can wait for the client's delayed ACK. This sets
    TCP_NODELAY on the connections the gateway accepts meanwhile (the gateway is not changed)."""
    original = _GatewayRequestHandler.setup

    def setup(self: _GatewayRequestHandler) -> None:
        original(self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    _GatewayRequestHandler.setup = setup  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        _GatewayRequestHandler.setup = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------- the load
def run_load(calls: list[Call], seconds: float) -> Run:
    """Every call on its own thread, as fast as it can, for `seconds`, all starting together."""
    barrier = threading.Barrier(len(calls))
    latencies: list[list[float]] = [[] for _ in calls]
    errors = [0] * len(calls)
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(calls)

    def client(index: int) -> None:
        call, mine = calls[index], latencies[index]
        barrier.wait()
        start = time.perf_counter()
        end = start + seconds
        now = start
        while now < end:
            try:
                ok = call()
            except Exception:  # a failed request is counted, not fatal
                ok = False
            done = time.perf_counter()
            mine.append(done - now)
            if not ok:
                errors[index] += 1
            now = done
        spans[index] = (start, now)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(end for _s, end in spans) - min(start for start, _e in spans)
    every = [latency for mine in latencies for latency in mine]
    return Run(requests=len(every), errors=sum(errors), seconds=elapsed, latencies=every)


def measure_cell(
    make_call: Callable[[int], Call], cell: Cell, warmup: float, duration: float, runs: int
) -> Cell:
    calls = [make_call(i) for i in range(cell.clients)]  # their connections live for the cell
    run_load(calls, warmup)
    for _ in range(runs):
        cell.runs.append(run_load(calls, duration))
    label = f"{cell.operation}/{cell.path}/{cell.clients}"
    print(
        f"  {label:18} {cell.rps:8.0f} rps  p50 {cell.p50_ms:6.2f} ms  p99 {cell.p99_ms:6.2f} ms"
        f"  (runs: {', '.join(f'{r.rps:.0f}' for r in cell.runs)} rps; errors {cell.errors})",
        file=sys.stderr,
    )
    return cell


def seed_products(products: int) -> list[str]:
    drafts = [NewProduct.model_validate(d) for d in build_demo_catalog()[:products]]
    seed_catalog(drafts, correlation_id="bench-seed")
    return [str(d.product_id) for d in drafts]


def measure(
    products: int = 500,
    duration: float = 3.0,
    warmup: float = 1.0,
    runs: int = 3,
    *,
    nodelay: bool = True,
) -> ReadsReport:
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as state:
        platform = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            started = time.perf_counter()
            ids = seed_products(products)
            # The seed's stream records go through PublishProductChangesFunction: let it finish.
            platform.wait_until_idle(timeout=300)
            print(
                f"  seeded {len(ids)} products in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            table = platform.environment["CATALOG_TABLE"]
            probe = requests.Session()
            get_bytes = len(probe.get(f"{platform.url}/products/{ids[0]}", timeout=30).content)
            list_bytes = len(
                probe.get(f"{platform.url}/products", params={"limit": PAGE}, timeout=30).content
            )
            cells = []
            for operation in OPERATIONS:
                for clients in CLIENTS:
                    # The diagnostic at one client only: that is where the delay shows.
                    diagnose = nodelay and clients == 1
                    paths = (GATEWAY, NODELAY, DIRECT) if diagnose else (GATEWAY, DIRECT)
                    for path in paths:
                        make_call: Callable[[int], Call] = (
                            partial(direct_call, operation, platform.endpoint, table, ids)
                            if path == DIRECT
                            else partial(gateway_call, operation, platform.url, ids)
                        )
                        cell = Cell(operation, path, clients)
                        with gateway_nodelay() if path == NODELAY else nullcontext():
                            cells.append(measure_cell(make_call, cell, warmup, duration, runs))
        finally:
            platform.stop()
    return ReadsReport(products, duration, warmup, runs, cells, get_bytes, list_bytes, nodelay)


# ---------------------------------------------------------------------- the report
def ratios(cell: Cell, base: Cell) -> list[str]:
    """Throughput, p50 and p99 ratios of `cell` to `base`, and the p50 difference in ms."""
    return [
        f"{cell.rps / base.rps:.2f}",
        f"{cell.p50_ms / base.p50_ms:.2f}",
        f"{cell.p99_ms / base.p99_ms:.2f}",
        f"{cell.p50_ms - base.p50_ms:.2f}",
    ]


def to_markdown(report: ReadsReport) -> str:
    rows = [
        f"{report.products} demo products seeded. Each row: {report.warmup:g} s warm-up, then "
        f"**median of {report.runs} runs of {report.duration:g} s** each (p50/p99 are each "
        "run's own percentiles over every request, then the median across runs). *Gateway*: "
        "real HTTP to the local API gateway, one keep-alive `requests.Session` per client "
        "thread, through the handler to the emulator. *Direct*: the same read with boto3 "
        f"straight at the emulator. Response bodies through the gateway: {report.get_bytes:,} "
        f"bytes for one product, {report.list_bytes:,} bytes for a page of {PAGE}."
        + (
            " *Gateway, TCP_NODELAY* (one client only) is a diagnostic, not how the platform "
            "runs: the gateway path again, with the benchmark setting TCP_NODELAY on the "
            "sockets the gateway accepts (the gateway writes a response's headers and body "
            "separately, so Nagle's algorithm can hold the body until the client's delayed ACK)."
            if report.nodelay
            else ""
        ),
        "",
        "| Read | Clients | Path | Requests/s | p50 ms | p99 ms | Failed requests |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for cell in report.cells:
        gateway_read, direct_read = OPERATIONS[cell.operation]
        what = direct_read if cell.path == DIRECT else gateway_read
        rows.append(
            f"| {what} | {cell.clients} | {cell.path} | {cell.rps:,.0f} | {cell.p50_ms:.2f} "
            f"| {cell.p99_ms:.2f} | {cell.errors} |"
        )
    rows += [
        "",
        "The gateway's and the handler's cost as ratios, gateway / direct (throughput below 1 "
        "and latency above 1 are the overhead)"
        + ("; in brackets, the same with the TCP_NODELAY diagnostic:" if report.nodelay else ":"),
        "",
        "| Read | Clients | Throughput ratio | p50 latency ratio | p99 latency ratio "
        "| Added p50 ms per request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for operation in OPERATIONS:
        for clients in CLIENTS:
            direct = report.cell(operation, DIRECT, clients)
            gateway = report.cell(operation, GATEWAY, clients)
            if direct is None or gateway is None:
                continue
            diagnostic = report.cell(operation, NODELAY, clients)

            shown = ratios(gateway, direct)
            if diagnostic is not None:
                shown = [
                    f"{a} ({b})" for a, b in zip(shown, ratios(diagnostic, direct), strict=True)
                ]
            rows.append(f"| {OPERATIONS[operation][0]} | {clients} | {' | '.join(shown)} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--products", type=int, default=500, help="demo products to seed")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per row")
    parser.add_argument("--runs", type=int, default=3, help="runs per row (median reported)")
    parser.add_argument(
        "--no-nodelay",
        dest="nodelay",
        action="store_false",
        help="skip the diagnostic rows with TCP_NODELAY set on the gateway's connections",
    )
    args = common.parse_arguments(parser, argv)
    print(
        f"catalog reads: {args.products} products, {args.runs} x {args.duration:g} s per row",
        file=sys.stderr,
    )
    report = measure(args.products, args.duration, args.warmup, args.runs, nodelay=args.nodelay)
    common.publish(to_markdown(report), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
