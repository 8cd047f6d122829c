"""The typo and prefix rules both engines share, and the ranking rules' order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shop.catalog.events import ProductChanged
from shop.consumers import view_consumer
from shop.errors import BadRequest
from shop.events import DomainEvent
from shop.search.analysis import Vocabulary, terms, typo_budget, typo_cost
from shop.search.engine import decode_cursor, encode_cursor, next_cursor
from shop.search.models import ProductDocument, SearchQuery, ShopperProfile
from shop.search.ranking import (
    RERANK_WINDOW,
    Candidate,
    QueryWords,
    highlight,
    rank,
    rank_page,
    typo_matcher,
    window_for,
)
from shop.search.tantivy_engine import TantivySearch


def document(product_id: str, name: str, **fields: object) -> ProductDocument:
    values: dict[str, object] = {
        "product_id": product_id,
        "version": 1,
        "name": name,
        "category": "home-decor",
        "skus": [product_id.upper()],
        "price": 100,
        "currency": "GBP",
        "in_stock": True,
        "created_at": "2026-12-01T00:00:00Z",
    }
    values.update(fields)
    return ProductDocument.model_validate(values)


@pytest.mark.parametrize(
    ("word", "budget"),
    [("mug", 0), ("tray", 0), ("heart", 1), ("lanterns", 1), ("christmas", 2), ("85123a", 0)],
)
def test_the_typo_budget_grows_with_the_word_and_is_zero_with_digits(
    word: str, budget: int
) -> None:
    assert typo_budget(word) == budget


def test_an_edit_of_the_first_letter_costs_two() -> None:
    assert typo_cost("haert", "heart", 1) == 1  # a transposition inside the word
    assert typo_cost("jeart", "heart", 1) is None  # the first letter: over a budget of one
    assert typo_cost("jeart", "heart", 2) == 2
    assert typo_cost("eart", "heart", 1) is None  # the first letter dropped


def test_plurals_and_accents_fold_to_one_term() -> None:
    assert terms("Hearts & Cafés, PARTIES boxes") == ["heart", "cafe", "party", "box"]


def test_the_vocabulary_finds_corrections_and_completions_exact_first() -> None:
    vocabulary = Vocabulary({"christmas": 50, "heart": 100, "hearth": 2, "heavens": 1})
    assert [e.term for e in vocabulary.expand("chrsitmas", as_prefix=False)] == ["christmas"]
    completions = vocabulary.expand("hea", as_prefix=True)
    assert [e.term for e in completions] == ["heart", "hearth", "heavens"]  # most common first
    assert vocabulary.expand("heart", as_prefix=True)[0].typos == 0
    assert [e.term for e in vocabulary.expand("chrsi", as_prefix=True)] == ["christmas"]
    vocabulary.update({"christmas": 0})
    assert vocabulary.expand("christmas", as_prefix=False) == []


def test_an_exact_match_outranks_a_typo_match_whatever_sells() -> None:
    words = QueryWords.parse("lantern ")
    exact = document("p-exact", "Lantern")
    typo = document("p-typo", "Lanturn", sales=10_000)
    ranked = rank([Candidate.of(typo, 99.0), Candidate.of(exact, 1.0)], words, typo_matcher(words))
    assert [r.document.product_id for r in ranked] == ["p-exact", "p-typo"]


def test_every_word_matched_beats_fewer_words_and_the_name_beats_the_description() -> None:
    words = QueryWords.parse("pearl bracelet ")
    both = document("p-both", "Pearl Bracelet")
    one = document("p-one", "Pearl Necklace")
    described = document("p-described", "Gift Set", description="a pearl bracelet")
    ranked = rank(
        [Candidate.of(one, 9.0), Candidate.of(described, 9.0), Candidate.of(both, 1.0)],
        words,
        typo_matcher(words),
    )
    assert [r.document.product_id for r in ranked] == ["p-both", "p-described", "p-one"]


def test_a_shoppers_categories_lean_the_blend_only_for_them() -> None:
    words = QueryWords.parse("basket ")
    garden = document("p-garden", "Basket", category="garden")
    storage = document("p-storage", "Basket", category="storage")
    anyone = rank(
        [Candidate.of(garden, 1.2), Candidate.of(storage, 1.0)], words, typo_matcher(words)
    )
    assert anyone[0].document.product_id == "p-garden"
    profile = ShopperProfile(categories={"storage": 1.0})
    theirs = rank(
        [Candidate.of(garden, 1.2), Candidate.of(storage, 1.0)], words, typo_matcher(words), profile
    )
    assert theirs[0].document.product_id == "p-storage"


def test_a_highlight_escapes_the_name_and_marks_matched_words() -> None:
    marked = highlight("Hearts <b>& Co", frozenset({"heart", "co"}))
    assert marked == "<em>Hearts</em> &lt;b&gt;&amp; <em>Co</em>"


def test_a_cursor_is_good_only_for_its_own_query() -> None:
    query = SearchQuery(q="heart", limit=2)
    cursor = encode_cursor(query, 2)
    assert decode_cursor(query.model_copy(update={"cursor": cursor})) == 2
    other = SearchQuery(q="heart", category="garden", cursor=cursor)
    with pytest.raises(BadRequest):
        decode_cursor(other)
    with pytest.raises(BadRequest):
        decode_cursor(SearchQuery(q="heart", cursor="eyJvIjogLTF9"))
    assert next_cursor(query, 0, 2, total=2) is None
    assert next_cursor(query, 0, 2, total=3) is not None


def test_pages_past_the_ranking_window_neither_repeat_nor_skip_a_product() -> None:
    words = QueryWords.parse("mug ")
    # Scores that the rules would reorder differently if the window grew with the offset.
    found = [Candidate.of(document(f"p-{i}", "Mug"), float((i * 37) % 101)) for i in range(450)]
    seen: list[str] = []
    for offset in range(0, 450, 30):
        page = rank_page(found, offset, 30, words, typo_matcher(words))
        seen += [r.document.product_id for r in page]
    assert len(seen) == 450
    assert sorted(seen) == sorted(c.product_id for c in found)
    assert window_for(0, 20) == RERANK_WINDOW
    assert window_for(RERANK_WINDOW - 10, 20) == 2 * RERANK_WINDOW


def test_an_older_version_never_replaces_a_newer_one_and_sales_only_grow(tmp_path: Path) -> None:
    engine = TantivySearch(tmp_path)
    engine.put([document("p-1", "Lantern", version=3, sales=5)])
    engine.put([document("p-1", "Old Lantern", version=2, sales=9)])  # read before v3
    kept = engine.get("p-1")
    assert kept is not None
    assert (kept.version, kept.name, kept.sales) == (3, "Lantern", 5)
    engine.put([document("p-1", "Lantern", version=3, sales=4)])  # a stale count
    assert engine.get("p-1").sales == 5  # type: ignore[union-attr]
    engine.apply([document("p-2", "Tray")], ["p-1"])
    assert engine.get("p-1") is None
    assert engine.count() == 1


def test_a_view_consumer_redelivers_only_the_event_that_fails_alone() -> None:
    def body(event_id: str) -> str:
        detail = {
            "event_id": event_id,
            "event_type": "ProductChanged",
            "schema_version": 1,
            "occurred_at": "2026-12-01T00:00:00Z",
            "source": "catalog",
            "correlation_id": "",
            "data": {"product_id": event_id, "version": 1, "change": "created", "skus": []},
        }
        return json.dumps({"detail-type": "ProductChanged", "detail": detail})

    applied: list[str] = []

    def apply_all(events: list[DomainEvent[Any]]) -> None:
        if any(e.event_id == "bad" for e in events):
            raise RuntimeError("this one cannot be applied")
        applied.extend(e.event_id for e in events)

    handler = view_consumer("test_view", [ProductChanged], apply_all)
    records = [
        {"messageId": f"m-{i}", "receiptHandle": "r", "body": body(i), "attributes": {}}
        for i in ("a", "bad", "c")
    ]
    result = handler({"Records": records}, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert applied == ["a", "c"]
