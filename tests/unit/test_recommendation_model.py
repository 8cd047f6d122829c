"""Specification of the recommendation model (shop.recommendations.model): bought together, for
you, the session, the artefact; and, on the first lines of the demo data, that it beats
popularity on a time split (bench/recommendation_quality.py's judging)."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from shop.recommendations.model import (
    Basket,
    Model,
    bought_together,
    for_session,
    for_you,
    train,
)
from shop_local.demo_catalog import DEMO_DATA_PATH, build_demo_catalog
from shop_local.demo_sales import purchases, sku_products

if TYPE_CHECKING:
    import bench.recommendation_quality as quality
else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import recommendation_quality as quality

LINES = 60_000  # of the demo data: its first months


def basket(*products: str, at: str = "2011-01-01 10:00:00", customer: str | None = None) -> Basket:
    return Basket(customer, at, products)


def shop() -> list[Basket]:
    """ "pop" is in every basket; "a" goes with "b" (3 times) more specifically than with "pop"
    (4 times, but "pop" is everywhere); "c" goes with "d"."""
    baskets = [basket("a", "b", "pop") for _ in range(3)]
    baskets += [basket("a", "pop")]
    baskets += [basket("c", "d", "pop") for _ in range(3)]
    baskets += [basket("e", "pop"), basket("f", "pop"), basket("e", "f", "pop")]
    baskets += [basket("x", "pop") for _ in range(30)]
    return baskets


def test_bought_together_never_returns_the_product_nor_the_excluded() -> None:
    model = train(shop())
    for product in ("a", "b", "pop", "c"):
        found = [p for p, _ in bought_together(model, product, 10, exclude={"d"})]
        assert product not in found
        assert "d" not in found
    assert bought_together(model, "unknown", 10) == []
    assert len(bought_together(model, "pop", 2)) == 2


def test_the_weighting_prefers_a_specific_neighbour_over_a_merely_popular_one() -> None:
    model = train(shop())
    assert bought_together(model, "a", 1)[0][0] == "b"
    raw = Counter(p for b in shop() if "a" in b.products for p in b.products if p != "a")
    assert raw.most_common(1)[0][0] == "pop"  # raw counts would say "pop"


def test_for_you_puts_a_re_bought_item_first() -> None:
    model = train(shop())
    history = [
        basket("c", at="2011-02-01 10:00:00", customer="u"),
        basket("c", "e", at="2011-03-01 10:00:00", customer="u"),
        basket("c", at="2011-04-01 10:00:00", customer="u"),
    ]
    found = for_you(model, history, [], 5)
    assert found[0][0] == "c"
    assert found[0][2] == "bought again"
    assert len(found) == 5
    assert {reason for _, _, reason in found} <= {
        "bought again",
        "with what you bought",
        "popular",
    }
    assert "d" in [p for p, _, _ in found]  # c's neighbour


def test_a_new_shopper_gets_limit_popular_items() -> None:
    model = train(shop())
    found = for_you(model, [], [], 4)
    assert len(found) == 4
    assert found[0][0] == "pop"
    assert all(reason == "popular" for _, _, reason in found)
    assert "pop" not in [p for p, _, _ in for_you(model, [], [], 4, exclude={"pop"})]


def test_the_session_moves_results_toward_the_viewed_products_neighbours() -> None:
    model = train(shop())
    plain = [p for p, _, _ in for_you(model, [], [], 3)]
    viewed = for_you(model, [], ["c"], 3)
    assert "d" not in plain[:1]
    assert viewed[0][0] == "d"
    assert viewed[0][2] == "from your session"
    session = for_session(model, ["c", "a"], 5, exclude={"pop"})  # "a" is the latest
    assert session[0][0] == "b"
    assert "a" not in [p for p, _ in session]
    assert "c" not in [p for p, _ in session]


def test_the_artefact_round_trips() -> None:
    model = train(shop())
    data = model.to_bytes()
    again = Model.from_bytes(data)
    assert again.neighbours.keys() == model.neighbours.keys()
    for product, row in model.neighbours.items():
        assert [p for p, _ in again.neighbours[product]] == [p for p, _ in row]
        assert [s for _, s in again.neighbours[product]] == [round(s, 5) for _, s in row]
    assert [p for p, _ in again.popular] == [p for p, _ in model.popular]
    assert again.baskets == model.baskets
    assert again.to_bytes() == data


def test_on_the_demo_data_the_model_beats_popularity_on_bought_together() -> None:
    owners = sku_products(build_demo_catalog(DEMO_DATA_PATH))
    products: dict[str, dict[str, None]] = {}
    meta: dict[str, tuple[str | None, str]] = {}
    for line in itertools.islice(purchases(DEMO_DATA_PATH), LINES):
        if line.sku in owners:
            products.setdefault(line.invoice, {})[owners[line.sku]] = None
            meta.setdefault(line.invoice, (line.customer, line.at))
    baskets = sorted(
        (Basket(meta[i][0], meta[i][1], tuple(p)) for i, p in products.items()),
        key=lambda b: b.at,
    )
    months = quality.months(baskets)
    data = quality.split("test", baskets, months[-1], "9999")
    model = train(data.train)
    ndcg, recall = quality.judge_bought_together(data.test, quality.bt(model))
    pop_ndcg, pop_recall = quality.judge_bought_together(
        data.test, lambda given, skip: quality.popular_list(model, skip)
    )
    assert ndcg > 1.05 * pop_ndcg
    assert recall > 1.05 * pop_recall
