"""The one small interface both search engines implement, and what they share: the cursor,
the request they are given, and the facet shape.

An engine stores `ProductDocument`s and answers a `SearchRequest`: it finds the candidates
(every word matched, its typos and completions; the filters), counts the facets over all of
them, and orders them. Ranking by relevance is finished here, in `shop.search.ranking`, the
same for both: the engine supplies the candidates and its text score.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shop.errors import BadRequest
from shop.money import Money
from shop.search.models import (
    MAX_RESULT_WINDOW,
    PRICE_BUCKETS,
    FacetValue,
    PriceBucket,
    ProductDocument,
    SearchFacets,
    SearchHit,
    SearchPage,
    SearchQuery,
    ShopperProfile,
    Suggestion,
)
from shop.search.ranking import Ranked, highlight

Ranking = Literal["blended", "bm25"]  # bm25: text relevance only, the harness's baseline

# How a matched term counts toward an engine's text score, by field (the same on both).
NAME_BOOST = 3.0
DESCRIPTION_BOOST = 1.0
SKU_BOOST = 10.0

NO_FACETS = SearchFacets(category=[], price=[])


@dataclass(frozen=True)
class SearchRequest:
    query: SearchQuery
    offset: int = 0
    profile: ShopperProfile | None = None  # the signed-in shopper's, or None
    ranking: Ranking = "blended"
    facets: bool = True
    name_only: bool = False  # suggestions complete words of the name


class SearchEngine(Protocol):
    def put(self, documents: Sequence[ProductDocument]) -> None:
        """Add or replace these products (by product_id), visible to the next search."""

    def remove(self, product_ids: Sequence[str]) -> None: ...

    def apply(self, documents: Sequence[ProductDocument], removed: Sequence[str]) -> None:
        """`put` and `remove` in one write (an indexer's batch is one commit)."""

    def get(self, product_id: str) -> ProductDocument | None: ...

    def count(self) -> int: ...

    def search(self, request: SearchRequest) -> SearchPage: ...

    def rebuild(self, documents: Iterable[ProductDocument]) -> int:
        """Index `documents` aside, then swap them in for the whole index (no downtime)."""
        ...


def _fingerprint(query: SearchQuery) -> str:
    what = query.model_dump(exclude={"cursor", "limit"})
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def encode_cursor(query: SearchQuery, offset: int) -> str:
    raw = json.dumps({"o": offset, "q": _fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(query: SearchQuery) -> int:
    """The offset a query's cursor stands for (0 without one). A cursor is only good for the
    query (words, filters, sort) it was issued for: another is refused, not misread."""
    if not query.cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("the cursor is not one this API issued") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"o", "q"}
        or type(data["o"]) is not int
        or not 0 < data["o"] < MAX_RESULT_WINDOW
    ):
        raise BadRequest("the cursor is not one this API issued")
    if data["q"] != _fingerprint(query):
        raise BadRequest("the cursor was issued for another search (words, filters or sort)")
    return int(data["o"])


def next_cursor(query: SearchQuery, offset: int, returned: int, total: int) -> str | None:
    end = offset + returned
    if returned == 0 or end >= min(total, MAX_RESULT_WINDOW):
        return None
    return encode_cursor(query, end)


@dataclass
class FacetCounts:
    category: dict[str, int] = field(default_factory=dict)
    price: list[int] = field(default_factory=list)  # per PRICE_BUCKETS entry


def page_of(
    query: SearchQuery, offset: int, page: list[Ranked], total: int, facets: SearchFacets
) -> SearchPage:
    """The answer to a search, from its ranked page (both engines end here)."""
    items = [
        SearchHit(
            product_id=r.document.product_id,
            name=r.document.name,
            category=r.document.category,
            price=Money(amount=r.document.price, currency=r.document.currency),
            in_stock=r.document.in_stock,
            highlight=highlight(r.document.name, r.matched_terms),
        )
        for r in page
    ]
    return SearchPage(
        items=items,
        facets=facets,
        total=total,
        cursor=next_cursor(query, offset, len(items), total),
    )


FACET_CATEGORIES = 100


def facet_aggregations() -> dict[str, Any]:
    """The facets as aggregations, in the Elasticsearch dialect both engines speak (Tantivy's
    `Searcher.aggregate` and OpenSearch's `aggs`)."""
    ranges: list[dict[str, int]] = []
    for low, high in PRICE_BUCKETS:
        bucket = {"from": low}
        if high is not None:
            bucket["to"] = high
        ranges.append(bucket)
    return {
        "category": {"terms": {"field": "category", "size": FACET_CATEGORIES}},
        "price": {"range": {"field": "price", "ranges": ranges}},
    }


NO_AGGREGATIONS: dict[str, Any] = {"category": {"buckets": []}, "price": {"buckets": []}}


def facets_of(aggregations: dict[str, Any]) -> SearchFacets:
    """The facets of `facet_aggregations`' result: every price bucket, counted or not."""
    categories = [
        FacetValue(value=str(b["key"]), count=int(b["doc_count"]))
        for b in aggregations["category"]["buckets"]
    ]
    counts = {
        (int(b.get("from", 0)), None if b.get("to") is None else int(b["to"])): int(b["doc_count"])
        for b in aggregations["price"]["buckets"]
    }
    prices = [
        PriceBucket(min=low, max=high, count=counts.get((low, high), 0))
        for low, high in PRICE_BUCKETS
    ]
    return SearchFacets(category=categories, price=prices)


def suggestions(page: SearchPage, limit: int) -> list[Suggestion]:
    """Suggestions from a name-only search: one per distinct name."""
    seen: set[str] = set()
    found: list[Suggestion] = []
    for hit in page.items:
        if hit.name.lower() in seen:
            continue
        seen.add(hit.name.lower())
        found.append(Suggestion(text=hit.name, product_id=hit.product_id))
    return found[:limit]
