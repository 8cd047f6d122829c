"""Recommendation quality: offline NDCG@10 and recall@10 on a time split of the demo data.

Baskets are the data's invoices (their products, each once); the split comes from the data:
train on every month before the last one, test on the last month. Judged:

    bought together  each product of a test basket with >= 2 products is given in turn; the
                     rest of the basket is relevant (averaged per basket, then over baskets)
    for you          a customer with baskets before the split: their first basket after it is
                     relevant, given their history before it
    session          a test basket with >= 4 products, its first 3 (in line order) as the
                     session; the rest is relevant

beside popularity (most-bought products in train) and raw co-occurrence counts on the same
split. recall@10 is hits in the top 10 over min(10, relevant products).

Constants are tuned with `--tune`, on a validation split inside the training period only (train
on the months before the last training month, validate on that month), never on the test month.

    .venv/bin/python bench/recommendation_quality.py [--data PATH] [--out docs/recommendations.md]
                                                     [--tune]
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from shop.recommendations import model as rec
from shop.recommendations.model import Basket, Counts, Model, Weighting
from shop_local.demo_catalog import DEMO_DATA_PATH, build_demo_catalog
from shop_local.demo_sales import invoice_baskets, purchases, sku_products

if TYPE_CHECKING:
    import bench.common as common
else:
    import common

K = 10
SESSION_GIVEN = 3

Recommender = Callable[[str, set[str]], list[str]]


# ---------------------------------------------------------------------- metrics
def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = K) -> float:
    """Binary NDCG@k: 0 when nothing is relevant."""
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    if not ideal:
        return 0.0
    return sum(1 / math.log2(i + 2) for i, p in enumerate(ranked[:k]) if p in relevant) / ideal


def recall_at(ranked: Sequence[str], relevant: set[str], k: int = K) -> float:
    """Hits in the top k over min(k, relevant): 1 is the best a list of k can do."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


def mean(values: Iterable[float]) -> float:
    listed = list(values)
    return sum(listed) / len(listed) if listed else float("nan")


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    name: str
    start: str  # of training, inclusive
    cut: str  # "YYYY-MM": the judged month's first day
    end: str  # of the judged month, exclusive ("9999" for the data's end)
    train: list[Basket]
    test: list[Basket]


def load(path: Path) -> list[Basket]:
    """The data's invoices as baskets of product ids, in time order."""
    owners = sku_products(build_demo_catalog(path))
    return [basket for _, basket in invoice_baskets(owners, purchases(path))]


def months(baskets: Sequence[Basket]) -> list[str]:
    return sorted({basket.at[:7] for basket in baskets})


def split(name: str, baskets: Sequence[Basket], test_month: str, end: str) -> Split:
    train = [b for b in baskets if b.at < test_month]
    test = [b for b in baskets if test_month <= b.at < end]
    return Split(name, baskets[0].at[:10], test_month, end, train, test)


def report_and_validation(baskets: Sequence[Basket]) -> tuple[Split, Split]:
    """Test on the last month (training on the rest); validate on the last training month."""
    seen = months(baskets)
    if len(seen) < 3:
        raise SystemExit("need at least 3 months of data")
    report = split("report", baskets, seen[-1], "9999")
    validation = split("validation", baskets, seen[-2], seen[-1])
    return report, validation


# ---------------------------------------------------------------------- judging
def judge_bought_together(test: Sequence[Basket], recommend: Recommender) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for basket in test:
        items = set(basket.products)
        if len(items) < 2:
            continue
        n, r = [], []
        for given in basket.products:
            relevant = items - {given}
            ranked = recommend(given, {given})
            n.append(ndcg_at(ranked, relevant))
            r.append(recall_at(ranked, relevant))
        ndcgs.append(mean(n))
        recalls.append(mean(r))
    return mean(ndcgs), mean(recalls)


def next_baskets(data: Split) -> list[tuple[list[Basket], Basket]]:
    """(history before the split, first basket after it) of each customer with both."""
    history: defaultdict[str, list[Basket]] = defaultdict(list)
    for basket in data.train:
        if basket.customer:
            history[basket.customer].append(basket)
    first: dict[str, Basket] = {}
    for basket in data.test:
        customer = basket.customer
        if customer is not None and customer in history and customer not in first:
            first[customer] = basket
    return [(history[c], first[c]) for c in sorted(first)]


def judge_for_you(
    cases: Sequence[tuple[list[Basket], Basket]],
    recommend: Callable[[list[Basket]], list[str]],
) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for history, nxt in cases:
        ranked = recommend(history)
        ndcgs.append(ndcg_at(ranked, set(nxt.products)))
        recalls.append(recall_at(ranked, set(nxt.products)))
    return mean(ndcgs), mean(recalls)


def judge_session(
    test: Sequence[Basket], recommend: Callable[[list[str]], list[str]]
) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for basket in test:
        if len(basket.products) <= SESSION_GIVEN:
            continue
        session = list(basket.products[:SESSION_GIVEN])
        relevant = set(basket.products[SESSION_GIVEN:]) - set(session)
        ranked = recommend(session)
        ndcgs.append(ndcg_at(ranked, relevant))
        recalls.append(recall_at(ranked, relevant))
    return mean(ndcgs), mean(recalls)


# ---------------------------------------------------------------------- recommenders
def popular_list(model: Model, exclude: Iterable[str]) -> list[str]:
    return rec.popular(model, K, exclude)


def raw_for_you(raw: Model, counts: Counts) -> Callable[[list[Basket]], list[str]]:
    """Raw co-occurrence for a shopper: Σ over their past products of the count with each of
    that product's top neighbours by count (popularity to fill)."""

    def recommend(history: list[Basket]) -> list[str]:
        scores: defaultdict[str, float] = defaultdict(float)
        for product in dict.fromkeys(p for b in history for p in b.products):
            row: Mapping[str, int] = counts.pairs.get(product, {})
            for neighbour, _ in raw.neighbours.get(product, ()):
                scores[neighbour] += row.get(neighbour, 0)
        ranked = [p for p, _ in sorted(scores.items(), key=lambda x: -x[1])[:K]]
        return ranked + popular_list(raw, ranked)[: K - len(ranked)]

    return recommend


def with_constants(**values: float) -> Callable[[], None]:
    """Set model constants; returns the function that restores them."""
    old = {name: getattr(rec, name) for name in values}
    for name, value in values.items():
        setattr(rec, name, value)

    def restore() -> None:
        for name, value in old.items():
            setattr(rec, name, value)

    return restore


def model_for_you(model: Model, **constants: float) -> Callable[[list[Basket]], list[str]]:
    def recommend(history: list[Basket]) -> list[str]:
        restore = with_constants(**constants)
        try:
            return [p for p, _, _ in rec.for_you(model, history, [], K)]
        finally:
            restore()

    return recommend


def bt(model: Model) -> Recommender:
    return lambda given, skip: [p for p, _ in rec.bought_together(model, given, K, skip)]


# ---------------------------------------------------------------------- evaluation
Row = tuple[str, float, float]


@dataclass
class Evaluation:
    bought_together: list[Row]
    for_you: list[Row]
    session: list[Row]
    sizes: dict[str, int]
    train_seconds: float
    count_seconds: float
    artefact_bytes: int
    products: int


def evaluate(data: Split, weighting: Weighting = rec.DEFAULT) -> Evaluation:
    started = time.perf_counter()
    counts = rec.count(data.train)
    count_seconds = time.perf_counter() - started
    model = rec.weigh(counts, weighting)
    train_seconds = time.perf_counter() - started
    raw = rec.weigh(counts, Weighting(scheme="count", min_support=1))
    artefact = model.to_bytes()
    assert Model.from_bytes(artefact).neighbours.keys() == model.neighbours.keys()
    pop: Recommender = lambda given, skip: popular_list(model, skip)  # noqa: E731
    bought = [
        ("popularity", *judge_bought_together(data.test, pop)),
        ("raw co-occurrence counts", *judge_bought_together(data.test, bt(raw))),
        (
            "lift, support >= 5",
            *judge_bought_together(
                data.test, bt(rec.weigh(counts, Weighting(scheme="lift", min_support=5)))
            ),
        ),
        (
            "cosine (beta 0.5), no shrinkage",
            *judge_bought_together(
                data.test, bt(rec.weigh(counts, replace(weighting, beta=0.5, shrink=0.0)))
            ),
        ),
        (f"**model**: {describe(weighting)}", *judge_bought_together(data.test, bt(model))),
    ]
    cases = next_baskets(data)
    you = [
        ("popularity", *judge_for_you(cases, lambda h: popular_list(model, ()))),
        (
            "raw co-occurrence counts of the history",
            *judge_for_you(cases, raw_for_you(raw, counts)),
        ),
        (
            "repeat only (frequency in the last baskets)",
            *judge_for_you(cases, model_for_you(model, NEIGHBOUR=0)),
        ),
        ("neighbours of the history only", *judge_for_you(cases, model_for_you(model, REPEAT=0))),
        (
            f"**model**: repeat + {rec.NEIGHBOUR:g} x neighbours, decay {rec.HISTORY_DECAY:g}",
            *judge_for_you(cases, model_for_you(model)),
        ),
    ]
    session = [
        ("popularity", *judge_session(data.test, lambda s: popular_list(model, s))),
        (
            "raw co-occurrence counts, latest product",
            *judge_session(data.test, lambda s: bt(raw)(s[-1], set(s))),
        ),
        (
            "model, latest product only",
            *judge_session(data.test, lambda s: bt(model)(s[-1], set(s))),
        ),
        (
            f"**model**: session kNN, decay {rec.SESSION_DECAY:g}",
            *judge_session(data.test, lambda s: [p for p, _ in rec.for_session(model, s, K)]),
        ),
    ]
    sizes = {
        "train baskets": len(data.train),
        "test baskets": len(data.test),
        "bought-together baskets": sum(1 for b in data.test if len(b.products) >= 2),
        "for-you customers": len(cases),
        "session baskets": sum(1 for b in data.test if len(b.products) > SESSION_GIVEN),
    }
    return Evaluation(
        bought,
        you,
        session,
        sizes,
        train_seconds,
        count_seconds,
        len(artefact),
        len(model.neighbours),
    )


def describe(weighting: Weighting) -> str:
    if weighting.scheme == "cosine":
        return (
            f"asymmetric cosine, beta {weighting.beta:g}, shrinkage {weighting.shrink:g}, "
            f"support >= {weighting.min_support}"
        )
    return f"{weighting.scheme}, support >= {weighting.min_support}"


# ---------------------------------------------------------------------- tuning
def tune(data: Split) -> list[str]:
    """Sweep the weighting (bought together) and the for-you constants on `data` (validation)."""
    lines = [
        f"Validation: train {data.start}..{data.cut} (exclusive), validate {data.cut} "
        f"({len(data.train)} / {len(data.test)} baskets).",
        "",
        "| bought together: weighting | NDCG@10 | recall@10 |",
        "|---|---:|---:|",
    ]
    counts = rec.count(data.train)
    grid: list[Weighting] = [Weighting(scheme="count", min_support=1)]
    grid += [Weighting(scheme="lift", min_support=10)]
    grid += [
        Weighting(beta=b, shrink=s, min_support=2)
        for b, s in itertools.product((0.0, 0.1, 0.2, 0.3, 0.5), (0.0, 5.0))
    ]
    best: tuple[float, Weighting] = (-1.0, rec.DEFAULT)
    for weighting in grid:
        n, r = judge_bought_together(data.test, bt(rec.weigh(counts, weighting)))
        lines.append(f"| {describe(weighting)} | {n:.4f} | {r:.4f} |")
        print(lines[-1], file=sys.stderr)
        best = max(best, (n, weighting), key=lambda x: x[0])
    lines += ["", f"Best: {describe(best[1])}.", ""]
    model = rec.weigh(counts, best[1])
    cases = next_baskets(data)
    lines += ["| for you: decay, neighbour weight | NDCG@10 | recall@10 |", "|---|---:|---:|"]
    top: tuple[float, str] = (-1.0, "")
    for decay, neighbour in itertools.product((0.5, 0.8, 1.0), (0.0, 0.2, 0.5)):
        n, r = judge_for_you(cases, model_for_you(model, HISTORY_DECAY=decay, NEIGHBOUR=neighbour))
        lines.append(f"| {decay:g}, {neighbour:g} | {n:.4f} | {r:.4f} |")
        print(lines[-1], file=sys.stderr)
        top = max(top, (n, f"decay {decay:g}, neighbour weight {neighbour:g}"), key=lambda x: x[0])
    lines += ["", f"Best: {top[1]}.", ""]
    lines += ["| session: decay | NDCG@10 | recall@10 |", "|---|---:|---:|"]
    for decay in (0.3, 0.7, 1.0):
        restore = with_constants(SESSION_DECAY=decay)
        try:
            n, r = judge_session(data.test, lambda s: [p for p, _ in rec.for_session(model, s, K)])
        finally:
            restore()
        lines.append(f"| {decay:g} | {n:.4f} | {r:.4f} |")
        print(lines[-1], file=sys.stderr)
    return lines


# ---------------------------------------------------------------------- the report
def table(title: str, rows: Sequence[Row]) -> list[str]:
    lines = [f"| {title} | NDCG@10 | recall@10 |", "|---|---:|---:|"]
    return lines + [f"| {name} | {n:.4f} | {r:.4f} |" for name, n, r in rows]


def section(
    evaluation: Evaluation, data: Split, *, command: str, seconds: float, tuning: list[str] | None
) -> str:
    sizes = ", ".join(f"{v} {k}" for k, v in evaluation.sizes.items())
    lines = [
        "## Offline evaluation",
        "",
        f"- **Command**: `{command}`, from the repository root (took {seconds:.0f} s)",
        f"- **Split**: train on {data.start}..{data.cut} (exclusive), test on the month from "
        f"{data.cut} (the data's last); both derived from the data",
        f"- **Sizes**: {sizes}",
        f"- **Training**: {evaluation.train_seconds:.1f} s ({evaluation.count_seconds:.1f} s "
        f"counting, the rest weighting), {evaluation.products} products with neighbours, "
        f"artefact {evaluation.artefact_bytes / 1024:.0f} KiB (gzipped JSON, top "
        f"{rec.K} neighbours per product)",
        "- **Constants**: tuned with `--tune` on a validation split inside the training period "
        "(the last training month held out), never on the test month",
        "- **Metrics**: binary NDCG@10; recall@10 = hits in the top 10 / min(10, relevant)",
        "",
        "Bought together (each product of a test basket given, the rest of it relevant):",
        "",
        *table("model", evaluation.bought_together),
        "",
        "For you (a known customer's first basket in the test month, from their history):",
        "",
        *table("model", evaluation.for_you),
        "",
        f"Session (the first {SESSION_GIVEN} products of a test basket, the rest relevant):",
        "",
        *table("model", evaluation.session),
        "",
    ]
    if tuning:
        lines += ["### Tuning (validation split only)", "", *tuning]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEMO_DATA_PATH, help="transactions .csv.gz")
    parser.add_argument("--out", type=Path, help="write the Offline evaluation section here")
    parser.add_argument("--tune", action="store_true", help="sweep constants on validation")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    baskets = load(args.data)
    report, validation = report_and_validation(baskets)
    print(
        f"loaded {len(baskets)} baskets in {time.perf_counter() - started:.0f} s; test from "
        f"{report.cut}, validation {validation.cut}",
        file=sys.stderr,
    )
    tuning = tune(validation) if args.tune else None
    evaluation = evaluate(report)
    command = common.command_line(__file__, sys.argv[1:] if argv is None else argv)
    markdown = section(
        evaluation, report, command=command, seconds=time.perf_counter() - started, tuning=tuning
    )
    print(markdown)
    if args.out:
        common.splice_section(
            args.out,
            "Offline evaluation",
            markdown,
            "# Recommendations\n\nHow the shop recommends products (to be written).\n",
        )


if __name__ == "__main__":
    main()
