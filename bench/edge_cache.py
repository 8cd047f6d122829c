"""Public reads with and without the edge cache (the template's `ApiCdn`), replaying the demo
data's real orders: for every order line, the shopper searches for the product (the first two
words of its name) and opens its page, in order time.

A fresh `LocalPlatform` in this process, the whole demo catalog seeded and indexed; shared by
`--clients` keep-alive clients that send the reads as fast as they are answered. *Without*:
every read reaches the API (the in-function product cache off, `HotReadCacheSeconds=0`).
*With*: the reads pass through a shared cache that keeps what CloudFront would by the
template's cache policy: an answer whose `Cache-Control` is `public, max-age=N`, for N
seconds, keyed by the path and query (no shopper is signed in here; `private` and `no-store`
answers are never kept). Its clock is the replayed order's own time, so its hit ratio is the
one the data's real pace gives, while the platform serves the misses as fast as it can. Each
mode runs `--runs` times over a fresh stretch of orders; the table shows medians.

    .venv/bin/python bench/edge_cache.py [--reads 2000] [--clients 8] [--runs 3]
"""

from __future__ import annotations

import logging
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import requests

from shop.catalog import service as catalog
from shop.catalog.models import NewProduct
from shop_local.demo_catalog import build_demo_catalog
from shop_local.demo_sales import purchases, sku_products
from shop_local.platform import LocalPlatform

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

KINDS = ("product page", "search")
PUBLIC_MAX_AGE = 30  # shop.http.PUBLIC_CACHE's max-age
PACES = (1, 10, 100, 1000)
MAX_AGE = re.compile(r"(?:^|,)\s*max-age=(\d+)")


@dataclass(frozen=True)
class Read:
    at: float  # the order's time, epoch seconds
    kind: str
    path: str  # with its query


@dataclass
class EdgeCache:
    """What CloudFront keeps of the API's answers under ApiReadCachePolicy (MinTTL 0,
    DefaultTTL 0): public answers for their max-age, nothing else."""

    kept: dict[str, float] = field(default_factory=dict)  # path -> expires at (order time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, read: Read) -> bool:
        with self.lock:
            return self.kept.get(read.path, float("-inf")) > read.at

    def offer(self, read: Read, cache_control: str) -> None:
        directives = cache_control.lower()
        if "public" not in directives or "no-store" in directives or "private" in directives:
            return
        found = MAX_AGE.search(directives)
        if found:
            with self.lock:
                self.kept[read.path] = read.at + int(found.group(1))


def order_reads(built: list[dict[str, object]]) -> list[Read]:
    owners = sku_products(built)
    names = {str(p["product_id"]): str(p["name"]) for p in built if "product_id" in p}
    reads: list[Read] = []
    for line in purchases():
        product_id = owners.get(line.sku)
        if product_id is None:
            continue
        at = datetime.fromisoformat(line.at).timestamp()
        words = " ".join(names.get(product_id, "").lower().split()[:2])
        reads.append(Read(at, "search", "/search?" + urlencode({"q": words})))
        reads.append(Read(at, "product page", f"/products/{product_id}"))
    reads.sort(key=lambda read: read.at)  # stable: each search before its page
    return reads


@dataclass
class Outcome:
    seconds: float
    latencies: dict[str, list[float]]
    hits: dict[str, int]
    errors: int


def replay(base_url: str, stretch: list[Read], clients: int, edge: EdgeCache | None) -> Outcome:
    position = [0]
    lock = threading.Lock()
    outcome = Outcome(0.0, {k: [] for k in KINDS}, dict.fromkeys(KINDS, 0), 0)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if position[0] >= len(stretch):
                    return
                read = stretch[position[0]]
                position[0] += 1
            started = time.perf_counter()
            if edge is not None and edge.hit(read):
                with lock:
                    outcome.latencies[read.kind].append(time.perf_counter() - started)
                    outcome.hits[read.kind] += 1
                continue
            response = session.get(base_url + read.path, timeout=30)
            if edge is not None and response.status_code == 200:
                edge.offer(read, response.headers.get("Cache-Control", ""))
            with lock:
                outcome.latencies[read.kind].append(time.perf_counter() - started)
                outcome.errors += response.status_code != 200

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - started
    return outcome


def served_at_pace(reads: list[Read], pace: float, max_age: int) -> dict[str, float]:
    """The share of each kind of read one edge would serve if the year's reads came `pace`
    times as fast (a sale's crowd: the same shoppers' reads, closer together); no platform."""
    kept: dict[str, float] = {}
    hits = dict.fromkeys(KINDS, 0)
    counts = dict.fromkeys(KINDS, 0)
    for read in reads:
        at = read.at / pace
        counts[read.kind] += 1
        if kept.get(read.path, float("-inf")) > at:
            hits[read.kind] += 1
        else:
            kept[read.path] = at + max_age
    return {kind: hits[kind] / counts[kind] for kind in KINDS if counts[kind]}


def main(argv: list[str] | None = None) -> int:
    args = common.replay_arguments(argv, reads=2000)
    logging.disable(logging.INFO)

    built = build_demo_catalog()
    reads = order_reads(built)
    begin = datetime.fromisoformat(args.start).timestamp()
    first = next(i for i, read in enumerate(reads) if read.at >= begin)
    print(f"{len(reads)} reads (a search and a page per order line); replaying from {first}")

    rows: list[tuple[str, str, float, float, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            catalog.seed_catalog([NewProduct.model_validate(d) for d in built])
            local.functions.invoke("ReindexSearchFunction", {})
            local.functions.environments["GetProductFunction"]["HOT_READ_CACHE_SECONDS"] = "0"
            offset = first
            for mode in ("without", "with"):
                runs: list[Outcome] = []
                for _ in range(args.runs):
                    stretch = reads[offset : offset + args.reads]
                    offset += args.reads
                    edge = EdgeCache() if mode == "with" else None
                    runs.append(replay(local.url, stretch, args.clients, edge))
                    done = runs[-1]
                    print(
                        f"  {mode} the edge cache: {len(stretch) / done.seconds:.0f} reads/s, "
                        f"hits {sum(done.hits.values())}/{len(stretch)}, errors {done.errors}",
                        flush=True,
                    )
                for kind in KINDS:
                    rows.append(
                        (
                            mode,
                            kind,
                            statistics.median(len(r.latencies[kind]) / r.seconds for r in runs),
                            statistics.median(
                                common.percentile(r.latencies[kind], 50) * 1000 for r in runs
                            ),
                            statistics.median(
                                common.percentile(r.latencies[kind], 99) * 1000 for r in runs
                            ),
                            statistics.median(r.hits[kind] / len(r.latencies[kind]) for r in runs),
                            sum(r.errors for r in runs),
                        )
                    )
        finally:
            local.stop()

    print()
    print(f"Machine: {common.machine(['moto', 'requests'])}; load average {common.load_average()}")
    print(
        f"Command: .venv/bin/python bench/edge_cache.py --reads {args.reads} "
        f"--clients {args.clients} --runs {args.runs} --start {args.start}"
    )
    print()
    print("| Edge cache | Read | reads/s | p50 ms | p99 ms | served by the edge | errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for mode, kind, rps, p50, p99, hit_ratio, errors in rows:
        print(
            f"| {mode} | {kind} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {hit_ratio:.1%} | {errors} |"
        )
    print()
    print(
        f"Share of the year's {len(reads)} reads one edge serves (max-age {PUBLIC_MAX_AGE} s), "
        "if they came N times as fast as they did:"
    )
    print()
    print("| Pace | product page | search |")
    print("|---:|---:|---:|")
    for pace in PACES:
        share = served_at_pace(reads, pace, PUBLIC_MAX_AGE)
        print(f"| {pace:g}x | {share['product page']:.1%} | {share['search']:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
