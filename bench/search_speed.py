"""Search speed: `GET /search` latency in process and through the local gateway, at the demo
catalogue and at 100k and 1M synthetic products; index build rate, size and memory; freshness.

Per size, the index is built once (`TantivySearch.rebuild`, under /tmp), then searched by a
fresh interpreter (so its memory is the index's, not the build's): a warm-up pass, then
`--rounds` rounds of a fixed query mix (head words, two- and three-word queries, typos,
half-typed last words, filters and sorts), each query timed around `engine.search(...)`.
The synthetic catalogues are drawn deterministically from the demo catalogue's vocabulary:
names of 2 to 5 words with the demo name words' frequencies, the demo's categories and
prices, sales from a Zipf-like draw. Through the gateway (demo size only) the same mix is
sent as `GET /search` over HTTP to a `LocalPlatform` searching the demo catalogue's index,
and freshness is timed: a product created with the admin API, then `GET /search` polled
until it is found.

    .venv/bin/python bench/search_speed.py [--sizes 3283,100000,1000000] [--rounds N]
                                           [--skip-gateway] [--profile SIZE]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shop.catalog.models import NewProduct
from shop.catalog.service import first_versions
from shop.search.analysis import terms
from shop.search.engine import SearchRequest
from shop.search.models import ProductDocument, SearchQuery
from shop.search.service import document_of
from shop.search.tantivy_engine import TantivySearch
from shop_local.demo_catalog import CATEGORY_LABELS, build_demo_catalog
from shop_local.demo_sales import purchases, sku_products, times_ordered

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

PACKAGES = ("tantivy", "pydantic", "moto", "werkzeug", "requests")
DEMO = 0  # --sizes entry standing for the demo catalogue itself
DEFAULT_SIZES = (DEMO, 100_000, 1_000_000)
GOALS_MS = {DEMO: 10.0, 1_000_000: 50.0}  # p99 in process (the issue's)
FRESHNESS_GOAL_SECONDS = 2.0
SEED = 20_240_101
QUERIES = 600
WARMUP_QUERIES = 100
FRESH_PRODUCTS = 20
POLL_SECONDS = 0.02
FRESH_TIMEOUT = 30.0
STOP = frozenset({"a", "an", "and", "the", "of", "with", "in", "for", "to", "on", "or", "s"})
HEAD = ("heart", "christmas", "bag", "vintage", "cake", "candle", "mug", "box", "lunch", "card")
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
INDEX_ROOT = Path(tempfile.gettempdir()) / "shop-bench-search"


# ---------------------------------------------------------------------- the catalogues
@dataclass
class Demo:
    documents: list[ProductDocument]
    name_words: Counter[str]  # words of the names, as written, by how often they appear
    name_lengths: Counter[int]
    categories: Counter[str]
    prices: list[int]
    attributes: list[str]
    phrases: list[list[str]] = field(default_factory=list)  # the names' words, for queries


def _created(n: int) -> str:
    start = datetime(2010, 12, 1, tzinfo=UTC)
    return (start + timedelta(minutes=7 * n)).isoformat().replace("+00:00", "Z")


def load_demo_catalogue() -> Demo:
    drafts = build_demo_catalog()
    sold = times_ordered(sku_products(drafts), purchases())
    documents: list[ProductDocument] = []
    words: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    categories: Counter[str] = Counter()
    prices: list[int] = []
    attributes: set[str] = set()
    phrases: list[list[str]] = []
    for n, draft in enumerate(drafts):
        variants: list[dict[str, Any]] = draft["variants"]  # type: ignore[assignment]
        pid = str(draft["product_id"])
        name = str(draft["name"])
        values = sorted({str(a) for v in variants for a in v["attributes"].values()})
        # As the indexer would index it (`document_of`), created at spread-out times.
        (product,) = first_versions([NewProduct.model_validate(draft)])
        document = document_of(product, in_stock=True, orders=sold.get(pid, 0)).model_copy(
            update={"created_at": _created(n)}
        )
        documents.append(document)
        written = name.split()
        words.update(written)
        lengths[len(written)] += 1
        categories[document.category] += 1
        prices.append(document.price)
        attributes.update(values)
        phrases.append(terms(name))
    return Demo(documents, words, lengths, categories, prices, sorted(attributes), phrases)


def synthetic_documents(demo: Demo, size: int, seed: int = SEED) -> Iterator[ProductDocument]:
    """`size` products drawn from the demo's vocabulary, the same ones for the same seed."""
    rng = random.Random(seed)
    words, word_weights = zip(*sorted(demo.name_words.items()), strict=True)
    cumulative_words = list(_cumulative(word_weights))
    lengths = sorted(n for n in demo.name_lengths if 2 <= n <= 5)
    cumulative_lengths = list(_cumulative([demo.name_lengths[n] for n in lengths]))
    categories, category_weights = zip(*sorted(demo.categories.items()), strict=True)
    cumulative_categories = list(_cumulative(category_weights))
    for n in range(size):
        (length,) = rng.choices(lengths, cum_weights=cumulative_lengths)
        name = " ".join(rng.choices(words, cum_weights=cumulative_words, k=length))
        (category,) = rng.choices(categories, cum_weights=cumulative_categories)
        variants = 1 if rng.random() < 0.8 else rng.randint(2, 4)
        description = f"{name}. Part of our {CATEGORY_LABELS.get(category, 'shop')} collection."
        if variants > 1:
            description += f" Available in {variants} styles."
        # Zipf-like: most products sell a little, a few sell a lot.
        sales = min(int(rng.paretovariate(0.9)) - 1, 5_000)
        yield ProductDocument(
            product_id=f"s-{n:07d}",
            version=1,
            name=name,
            description=description,
            category=category,
            skus=[f"S{n:07d}-{v}" for v in range(variants)],
            price=rng.choice(demo.prices),
            currency="GBP",
            in_stock=rng.random() < 0.9,
            created_at=_created(n % 500_000),
            sales=sales,
            attributes=sorted(rng.sample(demo.attributes, variants)) if variants > 1 else [],
        )


def _cumulative(weights: Sequence[int]) -> Iterator[int]:
    total = 0
    for weight in weights:
        total += weight
        yield total


# ---------------------------------------------------------------------- the query mix
@dataclass(frozen=True)
class Query:
    kind: str
    params: dict[str, Any]

    def search_query(self) -> SearchQuery:
        return SearchQuery.model_validate({**self.params, "limit": 20})


def _typo(word: str, rng: random.Random) -> str:
    """One edit, never of the first letter: a neighbouring key, a swap, a dropped letter."""
    i = rng.randrange(1, len(word))
    how = rng.choice(("neighbour", "swap", "drop"))
    if how == "swap" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "drop":
        return word[:i] + word[i + 1 :]
    row = next((r for r in KEYBOARD if word[i] in r), KEYBOARD[0])
    at = row.find(word[i])
    near = row[max(at - 1, 0) : at + 2].replace(word[i], "") or "e"
    return word[:i] + rng.choice(near) + word[i + 1 :]


def query_mix(demo: Demo, count: int = QUERIES, seed: int = SEED) -> list[Query]:
    """Head words, phrases of two and three words, typos, half-typed last words, and some
    of each with a category, a price range, in-stock only or a sort."""
    rng = random.Random(seed)
    frequency: Counter[str] = Counter(
        w for phrase in demo.phrases for w in set(phrase) if w not in STOP and w.isalpha()
    )
    head = list(HEAD) + [w for w, _ in frequency.most_common(40) if w not in HEAD]
    long_words = [w for w, n in frequency.most_common(600) if len(w) >= 5]
    phrases = [[w for w in p if w not in STOP and w.isalpha()] for p in demo.phrases]
    phrases = [p for p in phrases if len(p) >= 3]
    categories = sorted(demo.categories)

    def phrase(k: int) -> list[str]:
        words = rng.choice(phrases)
        start = rng.randrange(0, len(words) - k + 1)
        return words[start : start + k]

    def half(text: str) -> str:
        words = text.split()
        last = words[-1]
        cut = rng.randint(max(2, len(last) // 2), max(2, len(last) - 1))
        return " ".join([*words[:-1], last[:cut]])

    queries: list[Query] = []
    while len(queries) < count:
        roll = rng.random()
        if roll < 0.2:
            kind, q = "head word", rng.choice(head)
        elif roll < 0.4:
            kind, q = "two words", " ".join(phrase(2))
        elif roll < 0.5:
            kind, q = "three words", " ".join(phrase(3))
        elif roll < 0.65:
            kind = "typo"
            words = phrase(2) if rng.random() < 0.5 else [rng.choice(long_words)]
            j = max(range(len(words)), key=lambda i: len(words[i]))
            if len(words[j]) < 5:
                continue
            words[j] = _typo(words[j], rng)
            q = " ".join(words)
        elif roll < 0.85:
            kind = "half-typed"
            q = half(" ".join(phrase(rng.choice((1, 2, 2, 3)))))
        else:
            kind = "filter or sort"
            q = rng.choice(head) if rng.random() < 0.6 else " ".join(phrase(2))
        params: dict[str, Any] = {"q": q}
        if kind == "filter or sort":
            choice = rng.choice(("category", "price", "in_stock", "sort", "sort"))
            if choice == "category":
                params["category"] = rng.choice(categories)
            elif choice == "price":
                params["min_price"] = rng.choice((0, 200, 500))
                params["max_price"] = params["min_price"] + rng.choice((500, 1000, 2500))
            elif choice == "in_stock":
                params["in_stock"] = True
            else:
                params["sort"] = rng.choice(("price_asc", "price_desc", "newest", "bestselling"))
        queries.append(Query(kind, params))
    return queries


# ---------------------------------------------------------------------- memory and disk
def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 / 1024


# ---------------------------------------------------------------------- building
@dataclass
class Build:
    size: int
    documents: int
    seconds: float  # rebuild, the documents' generation taken out
    generation_seconds: float
    disk_mib: float

    @property
    def rate(self) -> float:
        return self.documents / self.seconds


class _Timed:
    """An iterator that counts the time spent producing its items."""

    def __init__(self, items: Iterator[ProductDocument]) -> None:
        self.items = items
        self.seconds = 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self) -> ProductDocument:
        clock = time.perf_counter()
        try:
            return next(self.items)
        finally:
            self.seconds += time.perf_counter() - clock


def index_root(size: int) -> Path:
    return INDEX_ROOT / f"{os.getpid()}-{size or 'demo'}"


def build(demo: Demo, size: int) -> Build:
    root = index_root(size)
    shutil.rmtree(root, ignore_errors=True)
    engine = TantivySearch(root)
    source = _Timed(iter(demo.documents) if size == DEMO else synthetic_documents(demo, size))
    clock = time.perf_counter()
    count = engine.rebuild(source)
    seconds = time.perf_counter() - clock - source.seconds
    return Build(size, count, seconds, source.seconds, folder_mib(root / "generations"))


# ---------------------------------------------------------------------- searching
@dataclass
class Round:
    latencies: list[float]  # ms, one per query

    def p(self, q: float) -> float:
        return common.percentile(self.latencies, q)


@dataclass
class Searched:
    rounds: list[Round]
    rss_before: float
    rss_opened: float  # after the first search: the index open, its vocabulary built
    rss_after: float  # after every round
    open_ms: float
    totals: dict[str, float]  # median matching products, per kind of query
    by_kind_p99: dict[str, float]  # ms, median over rounds


def search_in_process(root: Path, queries: list[Query], rounds: int) -> Searched:
    """In this (fresh) process: open the index, warm up, then time `rounds` of the mix."""
    requests = [SearchRequest(q.search_query()) for q in queries]
    before = rss_mib()
    engine = TantivySearch(root)
    clock = time.perf_counter()
    engine.search(requests[0])
    open_ms = (time.perf_counter() - clock) * 1000
    opened = rss_mib()
    for request in requests[:WARMUP_QUERIES]:
        engine.search(request)
    done: list[Round] = []
    totals: dict[str, list[int]] = {}
    per_kind: dict[str, list[float]] = {}
    for _ in range(rounds):
        latencies = []
        kinds: dict[str, list[float]] = {}
        for query, request in zip(queries, requests, strict=True):
            clock = time.perf_counter()
            page = engine.search(request)
            ms = (time.perf_counter() - clock) * 1000
            latencies.append(ms)
            kinds.setdefault(query.kind, []).append(ms)
            totals.setdefault(query.kind, []).append(page.total)
        done.append(Round(latencies))
        for kind, values in kinds.items():
            per_kind.setdefault(kind, []).append(common.percentile(values, 99))
    return Searched(
        rounds=done,
        rss_before=before,
        rss_opened=opened,
        rss_after=rss_mib(),
        open_ms=open_ms,
        totals={k: statistics.median(v) for k, v in totals.items()},
        by_kind_p99={k: statistics.median(v) for k, v in per_kind.items()},
    )


def search_in_child(root: Path, rounds: int) -> Searched:
    """`search_in_process` in a fresh interpreter, so its memory is the index's alone."""
    command = [sys.executable, __file__, "--search-child", str(root), "--rounds", str(rounds)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    data = json.loads(done.stdout)
    data["rounds"] = [Round(r) for r in data["rounds"]]
    return Searched(**data)


def child_main(root: Path, rounds: int) -> int:
    queries = query_mix(load_demo_catalogue())
    result = search_in_process(root, queries, rounds)
    payload = {**result.__dict__, "rounds": [r.latencies for r in result.rounds]}
    json.dump(payload, sys.stdout)
    return 0


def profile(root: Path, queries: list[Query], top: int = 25) -> str:
    """cProfile of one pass of the mix (after a warm-up), the top costs by own time and by
    cumulative time."""
    engine = TantivySearch(root)
    requests = [SearchRequest(q.search_query()) for q in queries]
    for request in requests[:WARMUP_QUERIES]:
        engine.search(request)
    profiler = cProfile.Profile()
    clock = time.perf_counter()
    profiler.enable()
    for request in requests:
        engine.search(request)
    profiler.disable()
    seconds = time.perf_counter() - clock
    out = io.StringIO()
    out.write(f"{len(requests)} searches in {seconds:.2f} s under cProfile\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# ---------------------------------------------------------------------- the gateway
@dataclass
class Gateway:
    rounds: list[Round]
    freshness: list[float]  # seconds, create's response -> first found
    products: int
    load_seconds: float


def _no_noise() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


def _made_up_word(rng: random.Random) -> str:
    return "".join(rng.sample("abcdefghijklmnopqrstuvwxyz", 9))


def through_gateway(demo: Demo, queries: list[Query], rounds: int, fresh: int) -> Gateway:
    import requests

    from shop_local.platform import LocalPlatform

    if TYPE_CHECKING:
        import bench.checkout_costs as costs
    else:
        import checkout_costs as costs

    _no_noise()
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(
        prefix="bench-search-", dir=INDEX_ROOT, ignore_cleanup_errors=True
    ) as state:
        clock = time.perf_counter()
        # The demo catalogue's index, built where the platform's search functions read it
        # (`load_demo()` would build the same one through the emulator's tables, minutes
        # slower: its reindex reads the whole catalog back from moto).
        TantivySearch(Path(state) / "search-index").rebuild(demo.documents)
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        load_seconds = time.perf_counter() - clock
        try:
            session = requests.Session()

            def get(params: dict[str, Any]) -> dict[str, Any]:
                response = session.get(f"{local.url}/search?{urlencode(params)}", timeout=30)
                if response.status_code != 200:
                    raise RuntimeError(f"GET /search {params}: {response.status_code}")
                page: dict[str, Any] = response.json()
                return page

            for query in queries[:WARMUP_QUERIES]:
                get(query.params)
            done: list[Round] = []
            for run in range(rounds):
                latencies = []
                for query in queries:
                    start = time.perf_counter()
                    get(query.params)
                    latencies.append((time.perf_counter() - start) * 1000)
                done.append(Round(latencies))
                print(
                    f"  gateway round {run + 1}: p50 {done[-1].p(50):.1f} ms, "
                    f"p99 {done[-1].p(99):.1f} ms",
                    file=sys.stderr,
                )
            client = costs.Client(local)
            freshness = []
            for i in range(fresh):
                word = _made_up_word(rng)
                body = {
                    "name": f"Bench {word} lantern",
                    "description": "A lantern made for the search benchmark.",
                    "category": "home-decor",
                    "variants": [
                        {
                            "sku": f"BENCH-{uuid.uuid4().hex[:10]}".upper(),
                            "price": {"amount": 450 + i, "currency": "GBP"},
                        }
                    ],
                }
                created = client.call(
                    "POST", "/admin/products", "bench-admin", admin=True, body=body, expect=201
                )
                since = time.perf_counter()
                while True:
                    page = get({"q": word})
                    if any(h["product_id"] == created["product_id"] for h in page["items"]):
                        break
                    if time.perf_counter() - since > FRESH_TIMEOUT:
                        raise RuntimeError(f"{word} not searchable after {FRESH_TIMEOUT} s")
                    time.sleep(POLL_SECONDS)
                freshness.append(time.perf_counter() - since)
            client.close()
            session.close()
        finally:
            local.stop()
    return Gateway(done, freshness, len(demo.documents), load_seconds)


# ---------------------------------------------------------------------- the report
@dataclass
class Report:
    sizes: list[int]
    rounds: int
    queries: list[Query]
    builds: dict[int, Build]
    searched: dict[int, Searched]
    gateway: Gateway | None
    demo_size: int


def _label(size: int, demo_size: int) -> str:
    return f"{demo_size:,} (demo)" if size == DEMO else f"{size:,} (synthetic)"


def _median(rounds: list[Round], q: float) -> float:
    return statistics.median(r.p(q) for r in rounds)


def _max(rounds: list[Round]) -> float:
    return statistics.median(max(r.latencies) for r in rounds)


def to_markdown(report: Report) -> str:
    kinds = Counter(q.kind for q in report.queries)
    mix = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    lines = (
        []
        if not report.sizes
        else [
            f"In process: per size, `TantivySearch.rebuild` builds the index under /tmp, then a "
            f"fresh interpreter opens it and sends {WARMUP_QUERIES} warm-up searches and then "
            f"**{report.rounds} rounds of {len(report.queries)} queries** ({mix}; 20 results and "
            "the facets each, anonymous), each timed around `engine.search(...)`; p50/p99/max are "
            "each round's own, then the **median across rounds**. The synthetic catalogues are "
            "drawn from the demo's vocabulary with a fixed seed (names of 2 to 5 demo name words "
            "with their frequencies, the demo's categories and prices, 90 % in stock, Zipf-like "
            "sales). *Build* is `rebuild` alone (the documents' generation timed apart and taken "
            "out); *disk* is the generation folder; *RSS* is the search process's VmRSS growth "
            "from before opening the index to after its first search (open + vocabulary) and "
            "after every round.",
            "",
            "| Products | Build docs/s | Build s | Index on disk MiB | First search ms | "
            "RSS open +MiB | RSS after +MiB | p50 ms | p99 ms | max ms | Goal p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
    )
    for size in report.sizes:
        b, s = report.builds[size], report.searched[size]
        goal = GOALS_MS.get(size)
        met = goal is not None and _median(s.rounds, 99) <= goal
        verdict = "" if goal is None else f"{goal:g} ({'met' if met else 'missed'})"
        lines.append(
            f"| {_label(size, report.demo_size)} | {b.rate:,.0f} | {b.seconds:.1f} | "
            f"{b.disk_mib:,.1f} | {s.open_ms:,.0f} | {s.rss_opened - s.rss_before:,.0f} | "
            f"{s.rss_after - s.rss_before:,.0f} | {_median(s.rounds, 50):.2f} | "
            f"{_median(s.rounds, 99):.2f} | {_max(s.rounds):.2f} | {verdict} |"
        )
    kind_names = list(kinds)
    lines += (
        []
        if not report.sizes
        else [
            "",
            "p99 ms by kind of query (median across rounds), and in brackets the median number of "
            "matching products:",
            "",
            "| Products | " + " | ".join(kind_names) + " |",
            "|---|" + "---:|" * len(kind_names),
        ]
    )
    for size in report.sizes:
        s = report.searched[size]
        cells = [f"{s.by_kind_p99[k]:.2f} ({s.totals[k]:,.0f})" for k in kind_names]
        lines.append(f"| {_label(size, report.demo_size)} | " + " | ".join(cells) + " |")
    if report.gateway is not None:
        g = report.gateway
        fresh = g.freshness
        lines += [
            "",
            "Through the gateway: a `LocalPlatform` whose search index is the demo "
            f"catalogue's ({g.products:,} products, built into the platform's index folder "
            f"before it starts; index and start took {g.load_seconds:.0f} s), the same "
            f"{WARMUP_QUERIES} warm-up and {report.rounds} rounds of the mix as "
            "`GET /search?...` over real HTTP, one keep-alive `requests.Session`, anonymous. "
            f"*Freshness*: {len(fresh)} products created one by one with "
            "`POST /admin/products`; from the create's response, `GET /search?q=<its made-up "
            f"word>` every {POLL_SECONDS * 1000:.0f} ms until the product is in the results "
            f"(goal: within {FRESHNESS_GOAL_SECONDS:g} s).",
            "",
            "| Path | Products | p50 | p99 | max |",
            "|---|---:|---:|---:|---:|",
            f"| GET /search (gateway) | {g.products:,} | {_median(g.rounds, 50):.2f} ms | "
            f"{_median(g.rounds, 99):.2f} ms | {_max(g.rounds):.2f} ms |",
        ]
        if DEMO in report.searched:
            s = report.searched[DEMO]
            lines.append(
                f"| engine.search (in process) | {report.demo_size:,} | "
                f"{_median(s.rounds, 50):.2f} ms | {_median(s.rounds, 99):.2f} ms | "
                f"{_max(s.rounds):.2f} ms |"
            )
        lines.append(
            f"| freshness: created -> found | {len(fresh)} created | "
            f"{common.percentile(fresh, 50):.2f} s | {common.percentile(fresh, 99):.2f} s | "
            f"{max(fresh):.2f} s |"
        )
    lines.append("")
    return "\n".join(lines)


def parse_sizes(text: str) -> list[int]:
    return [int(s) for s in re.split(r"[,\s]+", text.strip()) if s]


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="catalogue sizes, comma-separated; 0 or the demo's size: the demo catalogue",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the mix (median)")
    parser.add_argument("--skip-gateway", action="store_true", help="in process only")
    parser.add_argument("--fresh", type=int, default=FRESH_PRODUCTS, help="products created")
    parser.add_argument(
        "--profile",
        type=parse_sizes,
        default=[],
        help="sizes to profile one pass of the mix at (cProfile, printed to stderr)",
    )
    parser.add_argument("--search-child", type=Path, help=argparse.SUPPRESS)
    args = common.parse_arguments(parser, arguments)
    if args.search_child:
        return child_main(args.search_child, args.rounds)

    demo = load_demo_catalogue()
    queries = query_mix(demo)
    demo_size = len(demo.documents)
    sizes = [DEMO if s in (DEMO, demo_size) else s for s in parse_sizes(args.sizes)]
    INDEX_ROOT.mkdir(parents=True, exist_ok=True)
    builds: dict[int, Build] = {}
    searched: dict[int, Searched] = {}
    try:
        for size in sizes:
            builds[size] = b = build(demo, size)
            print(
                f"{_label(size, demo_size)}: built in {b.seconds:.1f} s ({b.rate:,.0f} docs/s, "
                f"generation {b.generation_seconds:.1f} s), {b.disk_mib:,.1f} MiB",
                file=sys.stderr,
            )
            searched[size] = s = search_in_child(index_root(size), args.rounds)
            print(
                f"  p50 {_median(s.rounds, 50):.2f} ms, p99 {_median(s.rounds, 99):.2f} ms, "
                f"RSS +{s.rss_after - s.rss_before:,.0f} MiB",
                file=sys.stderr,
            )
            for wanted in args.profile:
                if wanted in (size, demo_size if size == DEMO else -1):
                    print(profile(index_root(size), queries), file=sys.stderr)
            if size != DEMO:
                shutil.rmtree(index_root(size), ignore_errors=True)
        gateway = (
            None if args.skip_gateway else through_gateway(demo, queries, args.rounds, args.fresh)
        )
    finally:
        for size in sizes:
            shutil.rmtree(index_root(size), ignore_errors=True)
    report = Report(sizes, args.rounds, queries, builds, searched, gateway, demo_size)
    common.publish(to_markdown(report), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
