"""Specification of the search relevance harness (bench/search_relevance.py): its metrics, its
split of the data by time, its query generators, and what it checks of search on the demo
catalogue (the first lines of the demo data, so that the test stays quick)."""

from __future__ import annotations

import itertools
import math
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shop.search.engine import SearchEngine
from shop.search.models import ShopperProfile
from shop_local.demo_catalog import DEMO_DATA_PATH, build_demo_catalog
from shop_local.demo_sales import Purchase, purchases, times_ordered

if TYPE_CHECKING:
    import bench.search_relevance as relevance
else:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import search_relevance as relevance

LINES = 100_000  # of the demo data: its first months


def osa_distance(a: str, b: str) -> int:
    """Edits (insertion, deletion, substitution, adjacent transposition), all costing one."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
        if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
            d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


# ---------------------------------------------------------------------- metrics
def test_a_perfect_ranking_has_an_ndcg_of_one() -> None:
    gains = {"a": 3.0, "b": 1.0, "c": 0.0}
    assert relevance.ndcg_at(["a", "b", "c"], gains) == pytest.approx(1.0)


def test_ndcg_discounts_a_relevant_product_by_the_log_of_its_rank() -> None:
    gains = {"a": 3.0, "b": 1.0}
    ideal = 3 + 1 / math.log2(3)
    assert relevance.ndcg_at(["b", "a"], gains) == pytest.approx((1 + 3 / math.log2(3)) / ideal)
    assert relevance.ndcg_at(["x", "a"], {"a": 1.0}) == pytest.approx(1 / math.log2(3))


def test_ndcg_counts_only_the_top_k_and_nothing_relevant_scores_zero() -> None:
    assert relevance.ndcg_at([*"abcdefghij", "r"], {"r": 1.0}) == 0.0
    assert relevance.ndcg_at(["a", "b"], {}) == 0.0
    assert relevance.ndcg_at(["a"], {"a": 1.0, "b": 1.0}) == pytest.approx(
        1 / (1 + 1 / math.log2(3))
    )


def test_success_is_any_relevant_product_in_the_top_k() -> None:
    assert relevance.success_at([*"abcdefghi", "r"], {"r": 1.0}) == 1.0
    assert relevance.success_at([*"abcdefghij", "r"], {"r": 1.0}) == 0.0
    assert relevance.success_at(["a"], {"a": 0.0}) == 0.0  # a gain of 0 is not relevant


def test_reciprocal_rank_is_one_over_the_rank_and_zero_when_absent() -> None:
    assert relevance.reciprocal_rank(["a", "b", "c"], "c") == pytest.approx(1 / 3)
    assert relevance.reciprocal_rank(["a"], "z") == 0.0


# ---------------------------------------------------------------------- the split
def line(at: str) -> Purchase:
    return Purchase("1", "10002", 1, at, "17850")


def test_the_split_is_three_quarters_of_the_datas_own_time_range() -> None:
    lines = [line("2020-01-01 09:00:00"), line("2020-04-09 17:00:00"), line("2020-02-02 10:00:00")]
    report, validation = relevance.periods_of(lines)
    assert (report.start, report.cut, report.end) == ("2020-01-01", "2020-03-16", "2020-04-09")
    assert (validation.start, validation.cut) == ("2020-01-01", "2020-02-26")
    assert validation.cut < report.cut  # tuning never sees the reported judging period


def test_a_learning_period_ends_before_its_cut_day_and_the_judging_one_starts_on_it() -> None:
    periods = relevance.split("2020-01-01 00:00:00", "2020-01-04 23:00:00")  # 4 days
    since, until = periods.learning()
    assert (since, until) == ("2020-01-01", "2020-01-04")
    assert since <= "2020-01-03 23:59:00" < until
    assert until <= "2020-01-04 00:00:00"
    assert periods.judging()[0] <= "2020-01-04 00:00:00"


# ---------------------------------------------------------------------- typos
@pytest.mark.parametrize("word", ["christmas", "bracelet", "garden", "lantern", "decoration"])
def test_a_typo_keeps_the_first_letter_and_stays_within_the_budget(word: str) -> None:
    rng = random.Random(1)
    for _ in range(200):
        edits = relevance.typo_budget_of(word)
        typed = relevance.typo(word, rng, edits)
        assert typed is not None
        assert typed[0] == word[0]
        assert 1 <= osa_distance(typed, word) <= edits
        assert relevance.typo_budget_of(typed) >= edits


def test_short_words_and_numbers_get_no_typo() -> None:
    assert relevance.typo_budget_of("bag") == 0
    assert relevance.typo_budget_of("red") == 0
    assert relevance.typo_budget_of("12345") == 0
    assert relevance.typo_budget_of("heart") == 1
    assert relevance.typo_budget_of("christmas") == 2


# ---------------------------------------------------------------------- on the demo data
@pytest.fixture(scope="module")
def data() -> relevance.Data:
    catalogue = relevance.Catalogue(build_demo_catalog())
    lines = list(itertools.islice(purchases(), LINES))
    report, validation = relevance.periods_of(lines)
    return relevance.Data(DEMO_DATA_PATH, catalogue, lines, report, validation)


@pytest.fixture(scope="module")
def engine(data: relevance.Data, tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    start, cut = data.report.learning()
    sales = times_ordered(data.catalogue.skus, data.lines, since=start, until=cut)
    docs = relevance.documents(data.catalogue, sales)
    return relevance.build_index(tmp_path_factory.mktemp("relevance"), docs)


def known_items(data: relevance.Data, half: str = "report") -> list[relevance.QuerySet]:
    return relevance.known_item_sets(data.catalogue, seed=3, half=half, count=80)


def test_query_sets_regenerate_the_same_from_the_same_seed(data: relevance.Data) -> None:
    first, second = known_items(data), known_items(data)
    assert [s.queries for s in first] == [s.queries for s in second]
    assert all(s.queries for s in first)


def test_known_item_queries_hold_words_only_their_product_has(data: relevance.Data) -> None:
    exact = known_items(data)[0]
    catalogue = data.catalogue
    for judged in exact.queries:
        (name,) = {catalogue.names[p] for p in judged.gains}
        assert catalogue.named(judged.q.split()) == set(catalogue.by_name[name.casefold()])


def test_tuning_and_the_report_judge_different_products(data: relevance.Data) -> None:
    def products(sets: list[relevance.QuerySet]) -> set[str]:
        return {p for s in sets for j in s.queries for p in j.gains}

    assert not products(known_items(data, "report")) & products(known_items(data, "tune"))


def test_every_hand_written_query_finds_its_product_in_the_top_10(
    data: relevance.Data, engine: SearchEngine
) -> None:
    sanity = relevance.sanity_set(data.catalogue)
    assert sanity.skipped == 0
    missed = [
        judged.q
        for judged, scored in zip(sanity.queries, relevance.score(engine, sanity), strict=True)
        if scored.success("blended") < 1
    ]
    assert missed == []


def test_blended_ranking_finds_typod_and_half_typed_products_that_bm25_cannot(
    data: relevance.Data, engine: SearchEngine
) -> None:
    for query_set in known_items(data)[1:]:  # typos, prefixes, prefixes with typos
        scored = relevance.score(engine, query_set)
        blended = relevance.mean(x.success("blended") for x in scored)
        bm25 = relevance.mean(x.success("bm25") for x in scored)
        assert blended >= 0.75, query_set.name
        assert blended > bm25 + 0.2, query_set.name


def test_exact_known_items_are_found_by_both_rankings(
    data: relevance.Data, engine: SearchEngine
) -> None:
    scored = relevance.score(engine, known_items(data)[0])
    assert relevance.mean(x.success("blended") for x in scored) >= 0.95
    assert relevance.mean(x.success("bm25") for x in scored) >= 0.95


def test_later_best_sellers_rank_higher_blended_than_by_text_alone(
    data: relevance.Data, engine: SearchEngine
) -> None:
    since, _ = data.report.judging()
    later = times_ordered(data.catalogue.skus, data.lines, since=since)
    head = relevance.head_set(data.catalogue, later)
    assert len(head.queries) >= 20
    scored = relevance.score(engine, head)
    assert relevance.mean(x.ndcg("blended") for x in scored) > relevance.mean(
        x.ndcg("bm25") for x in scored
    )


def test_a_shoppers_profile_lifts_what_they_buy_and_anonymous_is_unpersonalised(
    data: relevance.Data, engine: SearchEngine
) -> None:
    profiles, targets = relevance.personal_targets(
        data.catalogue, data.lines, data.report, seed=3, shoppers=40, per_shopper=3
    )
    result = relevance.measure_personal(engine, profiles, targets)
    assert result.anonymous_same == result.queries > 0
    n, personal, anonymous, _, _ = result.row(lambda t: t.rebought)
    assert n > 0
    assert personal > anonymous


def test_an_empty_profile_changes_nothing(engine: SearchEngine) -> None:
    for q in ("heart", "christmas decoration", "bag"):
        anonymous = relevance.ranked_ids(engine, q, "blended", None)
        assert relevance.ranked_ids(engine, q, "blended", ShopperProfile()) == anonymous
