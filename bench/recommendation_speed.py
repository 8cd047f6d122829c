"""Recommendation speed: training time, artefact size and memory on the demo history and on 10x
synthetic baskets; serving latency in process and through the local gateway.

- **Training**: each scale trains in a fresh interpreter (`shop.recommendations.model.train`
  on baskets already in memory, then `Model.to_bytes`), `--runs` times; the table shows the
  median time and the child's peak RSS. The 1x baskets are the demo history the platform
  imports (invoices before 2011-11); the 10x ones are drawn from it deterministically: each
  synthetic basket copies a real one and swaps each product, with probability 0.3, for another
  drawn by popularity (so neighbourhoods stay real-shaped but are noisier, and the product
  count stays the catalogue's).
- **In process**: the artefact loaded from bytes (timed), then `bought_together` for random
  products and `for_you` for random demo customers (their real history, a 3-product session),
  10,000 calls each; the model alone, no I/O.
- **Through the gateway**: a `LocalPlatform` with the demo loaded (`load_demo()`, which imports
  the history and runs the training job); `GET /products/{id}/recommendations` and, signed in
  as demo customers, `GET /recommendations`, `--requests` each over one keep-alive session,
  after a warm-up.

    .venv/bin/python bench/recommendation_speed.py [--scales 1,10] [--runs 3] [--requests 300]
                                                   [--skip-gateway]
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop.recommendations import model as rec
from shop.recommendations.model import Basket
from shop_local.demo_catalog import build_demo_catalog
from shop_local.demo_sales import invoice_baskets, purchases, sku_products

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

PACKAGES = ("pydantic", "moto", "werkzeug", "requests")
HISTORY_UNTIL = "2011-11"
SEED = 20_111_101
SWAP = 0.3
CALLS = 10_000
WARMUP = 30


def demo_baskets() -> list[Basket]:
    owners = sku_products(build_demo_catalog())
    return [b for _, b in invoice_baskets(owners, purchases(), until=HISTORY_UNTIL)]


def synthetic(baskets: list[Basket], scale: int) -> list[Basket]:
    """`scale` times as many baskets, drawn from the real ones (see the module's docstring)."""
    if scale == 1:
        return baskets
    rng = random.Random(SEED)
    counts = Counter(p for basket in baskets for p in basket.products)
    products, weights = zip(*sorted(counts.items()), strict=True)
    cumulative = list(itertools.accumulate(weights))  # so that each draw is a bisection
    total = cumulative[-1]
    drawn: list[Basket] = []
    for _ in range(scale * len(baskets)):
        basket = rng.choice(baskets)
        items = [
            products[bisect.bisect(cumulative, rng.random() * total)] if rng.random() < SWAP else p
            for p in basket.products
        ]
        drawn.append(Basket(basket.customer, basket.at, tuple(dict.fromkeys(items))))
    return drawn


# ---------------------------------------------------------------------- training, in a child
def train_child(scale: int) -> dict[str, float]:
    baskets = synthetic(demo_baskets(), scale)
    pairs = sum(len(b.products) ** 2 for b in baskets)
    start = time.perf_counter()
    model = rec.train(baskets)
    trained = time.perf_counter()
    data = model.to_bytes()
    done = time.perf_counter()
    return {
        "baskets": len(baskets),
        "pair_updates": pairs,
        "train_s": trained - start,
        "serialise_s": done - trained,
        "bytes": len(data),
        "products": len(model.neighbours),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def train_in_child(scale: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--train-child", str(scale)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- serving
@dataclass
class Latencies:
    name: str
    ms: list[float]

    def p(self, q: float) -> float:
        return common.percentile(self.ms, q)


def in_process(baskets: list[Basket]) -> tuple[float, list[Latencies]]:
    data = rec.train(baskets).to_bytes()
    start = time.perf_counter()
    model = rec.Model.from_bytes(data)
    load_ms = (time.perf_counter() - start) * 1000
    rng = random.Random(SEED)
    products = sorted(model.neighbours)
    histories: dict[str, list[Basket]] = {}
    for basket in baskets:
        if basket.customer:
            histories.setdefault(basket.customer, []).append(basket)
    customers = sorted(histories)
    together, mine = [], []
    for _ in range(CALLS):
        product = rng.choice(products)
        start = time.perf_counter()
        rec.bought_together(model, product, 10)
        together.append((time.perf_counter() - start) * 1000)
        history = histories[rng.choice(customers)]
        session = rng.sample(products, 3)
        start = time.perf_counter()
        rec.for_you(model, history, session, 10)
        mine.append((time.perf_counter() - start) * 1000)
    return load_ms, [Latencies("bought_together", together), Latencies("for_you", mine)]


def through_gateway(requests_per_route: int) -> tuple[float, list[Latencies]]:
    import requests

    from shop_local.demo import load_demo
    from shop_local.platform import LocalPlatform

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="bench-recommend-") as state:
        start = time.perf_counter()
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            load_demo()
            load_s = time.perf_counter() - start
            session = requests.Session()
            rng = random.Random(SEED)
            products = sorted({p for b in demo_baskets() for p in b.products})
            customers = sorted({b.customer for b in demo_baskets() if b.customer})

            def product_page() -> str:
                return f"/products/{rng.choice(products)}/recommendations?limit=10"

            def tokens() -> dict[str, str]:
                name = f"customer-{rng.choice(customers)}"
                return {"Authorization": f"Bearer {local.identity.issue(name)}"}

            def anonymous() -> dict[str, str]:
                return {}

            def mine() -> str:
                return "/recommendations?limit=10"

            routes: list[tuple[str, Callable[[], str], Callable[[], dict[str, str]]]] = [
                ("GET /products/{id}/recommendations", product_page, anonymous),
                ("GET /recommendations (demo customers)", mine, tokens),
            ]
            measured = []
            for name, path, headers in routes:
                latencies = []
                for n in range(WARMUP + requests_per_route):
                    url, sent = local.url + path(), headers()
                    begin = time.perf_counter()
                    response = session.get(url, headers=sent, timeout=30)
                    elapsed = (time.perf_counter() - begin) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{url}: {response.status_code} {response.text}")
                    if n >= WARMUP:
                        latencies.append(elapsed)
                measured.append(Latencies(name, latencies))
                print(f"  {name}: p50 {measured[-1].p(50):.1f} ms", file=sys.stderr)
        finally:
            local.stop()
    return load_s, measured


# ---------------------------------------------------------------------- report
def to_markdown(
    args: Any,
    trained: dict[int, list[dict[str, float]]],
    local: tuple[float, list[Latencies]],
    gateway: tuple[float, list[Latencies]] | None,
) -> str:
    lines = [
        f"Training ({args.runs} runs per scale in fresh interpreters; median time, the worst "
        "peak RSS of the child, which holds the baskets too):",
        "",
        "| Scale | Baskets | Pair updates | Train | Serialise | Artefact | Products | Peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale, runs in trained.items():
        first = runs[0]
        lines.append(
            f"| {scale}x | {first['baskets']:,.0f} | {first['pair_updates']:,.0f} | "
            f"{statistics.median(r['train_s'] for r in runs):.1f} s | "
            f"{statistics.median(r['serialise_s'] for r in runs):.2f} s | "
            f"{first['bytes'] / 1024:,.0f} KiB | {first['products']:,.0f} | "
            f"{max(r['rss_mib'] for r in runs):,.0f} MiB |"
        )
    load_ms, calls = local
    lines += [
        "",
        f"Serving in process (the 1x model; loading its artefact from bytes took {load_ms:.0f} "
        f"ms; {CALLS:,} calls each):",
        "",
        "| Call | p50 | p99 | max |",
        "|---|---:|---:|---:|",
        *(
            f"| `{c.name}` | {c.p(50):.3f} ms | {c.p(99):.3f} ms | {max(c.ms):.3f} ms |"
            for c in calls
        ),
    ]
    if gateway is not None:
        load_s, routes = gateway
        lines += [
            "",
            f"Through the gateway (a `LocalPlatform` with the demo loaded and trained, which took "
            f"{load_s:.0f} s; {args.requests} requests per route after {WARMUP} warm-up, one "
            "keep-alive session; each response checks catalog status and stock of what it shows):",
            "",
            "| Route | p50 | p99 | max |",
            "|---|---:|---:|---:|",
            *(
                f"| {r.name} | {r.p(50):.1f} ms | {r.p(99):.1f} ms | {max(r.ms):.1f} ms |"
                for r in routes
            ),
        ]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument("--scales", default="1,10", help="basket multiples, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="training runs per scale (median)")
    parser.add_argument("--requests", type=int, default=300, help="per route, through the gateway")
    parser.add_argument("--skip-gateway", action="store_true", help="in process only")
    parser.add_argument("--train-child", type=int, help="(internal) train once at this scale")
    args = common.parse_arguments(parser, arguments)
    if args.train_child is not None:
        print(json.dumps(train_child(args.train_child)))
        return 0
    trained: dict[int, list[dict[str, float]]] = {}
    for scale in (int(s) for s in args.scales.split(",") if s):
        trained[scale] = [train_in_child(scale) for _ in range(args.runs)]
        print(f"{scale}x: {[round(r['train_s'], 1) for r in trained[scale]]} s", file=sys.stderr)
    local = in_process(demo_baskets())
    gateway = None if args.skip_gateway else through_gateway(args.requests)
    markdown = to_markdown(args, trained, local, gateway)
    common.publish(markdown, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
