"""Product page reads with and without the in-function cache (`HotReadCacheSeconds`), replaying
the products of the demo data set's real orders in the order they were bought.

A fresh `LocalPlatform` in this process, the whole demo catalog seeded. The reads are
`GET /products/{id}` of each order line's product, in order time, from `--start` on, shared by
`--clients` keep-alive clients that send them as fast as they are answered: the order times are
compressed to the platform's pace (the factor is reported). Each TTL (0: every read reads the
table; 5: the template's default) is measured `--runs` times, a fresh stretch of orders each
run; the table shows medians. The hit ratio is the function's own (`shop.catalog.service`'s
cache). Beside it, the hit ratio the same TTL would have had at the data's real pace, counted
over every order line of the year without the platform.

    .venv/bin/python bench/hot_read_cache.py [--reads 3000] [--clients 8] [--runs 3]
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from shop.catalog import service as catalog
from shop.catalog.models import NewProduct
from shop_local.demo_catalog import build_demo_catalog
from shop_local.demo_sales import Purchase, purchases, sku_products
from shop_local.platform import LocalPlatform

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

TTLS = (0, 5)
EDGE_MAX_AGE_SECONDS = 30  # max-age of shop.http.PUBLIC_CACHE


def order_reads(owners: dict[str, str], lines: list[Purchase]) -> list[tuple[float, str]]:
    """(epoch seconds, product id) of every order line with a demo product, in order time."""
    reads = [
        (datetime.fromisoformat(line.at).timestamp(), owners[line.sku])
        for line in lines
        if line.sku in owners
    ]
    reads.sort(key=lambda read: read[0])
    return reads


def real_pace_hit_ratio(reads: list[tuple[float, str]], ttl: float) -> float:
    """The share of reads a per-instance cache of `ttl` seconds would serve, one instance,
    the reads at their real times."""
    loaded: dict[str, float] = {}
    hits = 0
    for at, product_id in reads:
        if product_id in loaded and at - loaded[product_id] < ttl:
            hits += 1
        else:
            loaded[product_id] = at
    return hits / len(reads) if reads else 0.0


def replay(base_url: str, stretch: list[str], clients: int) -> tuple[float, list[float], int]:
    """(seconds, latencies, errors) of reading every product of `stretch` in order."""
    position = [0]
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if position[0] >= len(stretch):
                    return
                product_id = stretch[position[0]]
                position[0] += 1
            started = time.perf_counter()
            response = session.get(f"{base_url}/products/{product_id}", timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code != 200 or response.json()["product_id"] != product_id:
                    errors[0] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, errors[0]


def main(argv: list[str] | None = None) -> int:
    args = common.replay_arguments(argv, reads=3000)
    logging.disable(logging.INFO)

    built = build_demo_catalog()
    reads = order_reads(sku_products(built), list(purchases()))
    first = next(
        i for i, (at, _) in enumerate(reads) if at >= datetime.fromisoformat(args.start).timestamp()
    )
    print(f"{len(reads)} order lines with a demo product; replaying from line {first}")

    with tempfile.TemporaryDirectory(prefix="bench-hot-reads-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            catalog.seed_catalog([NewProduct.model_validate(d) for d in built])
            variables = local.functions.environments["GetProductFunction"]
            rows: list[tuple[float, ...]] = []
            offset = first
            for ttl in TTLS:
                variables["HOT_READ_CACHE_SECONDS"] = str(ttl)
                results = []
                for _ in range(args.runs):
                    stretch = reads[offset : offset + args.reads]
                    offset += args.reads
                    catalog._products.clear()
                    seconds, latencies, errors = replay(
                        local.url, [p for _, p in stretch], args.clients
                    )
                    looked = catalog._products.hits + catalog._products.misses
                    hits = catalog._products.hits / looked if looked else 0.0
                    real_span = stretch[-1][0] - stretch[0][0]
                    results.append(
                        (
                            len(stretch) / seconds,
                            common.percentile(latencies, 50) * 1000,
                            common.percentile(latencies, 99) * 1000,
                            hits,
                            real_span / seconds,
                            errors,
                        )
                    )
                    print(
                        f"  ttl {ttl}s: {results[-1][0]:.0f} reads/s, p50 {results[-1][1]:.1f} ms,"
                        f" p99 {results[-1][2]:.1f} ms, hits {hits:.1%}, "
                        f"{results[-1][4]:.0f}x real pace, errors {errors}",
                        flush=True,
                    )
                rows.append(
                    (
                        ttl,
                        *(statistics.median(r[i] for r in results) for i in range(5)),
                        sum(r[5] for r in results),
                        real_pace_hit_ratio(reads, ttl) if ttl else 0.0,
                    )
                )
        finally:
            local.stop()

    print()
    print(f"Machine: {common.machine(['moto', 'requests'])}; load average {common.load_average()}")
    print(
        f"Command: .venv/bin/python bench/hot_read_cache.py --reads {args.reads} "
        f"--clients {args.clients} --runs {args.runs} --start {args.start}"
    )
    print()
    print(
        "| HotReadCacheSeconds | reads/s | p50 ms | p99 ms | hit ratio (replayed) "
        "| compression (x real pace) | errors | hit ratio at real pace |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cached, rps, p50, p99, hit_ratio, pace, failed, real in rows:
        print(
            f"| {cached:g} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {hit_ratio:.1%} | {pace:,.0f} "
            f"| {failed:g} | {real:.2%} |"
        )
    # The edge cache (ApiCdn): one cache for every shopper of an edge location, holding a
    # product page for its Cache-Control max-age (shop.http.PUBLIC_CACHE), at the data's pace.
    edge = real_pace_hit_ratio(reads, EDGE_MAX_AGE_SECONDS)
    print()
    print(
        f"Edge cache (max-age {EDGE_MAX_AGE_SECONDS} s), at the data's real pace, one edge: "
        f"{edge:.2%} of product page reads served without reaching the API"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
