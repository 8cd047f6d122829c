"""The OpenSearch engine against a real server (`OPENSEARCH_URL`, e.g. a local container:
`docker run -p 9200:9200 -e discovery.type=single-node -e DISABLE_SECURITY_PLUGIN=true
opensearchproject/opensearch`): the behaviours the Tantivy engine has, on a fresh alias."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from shop.search.engine import SearchRequest
from shop.search.models import ProductDocument, SearchQuery
from shop.search.opensearch_engine import OpenSearchSearch

pytestmark = pytest.mark.skipif(
    not os.environ.get("OPENSEARCH_URL"), reason="OPENSEARCH_URL is not set"
)


def product(
    product_id: str, name: str, category: str, price: int, sales: int = 0
) -> ProductDocument:
    return ProductDocument(
        product_id=product_id,
        version=1,
        name=name,
        description=f"The {name.lower()}, made to last",
        category=category,
        skus=[f"SKU-{product_id.upper()}"],
        price=price,
        currency="GBP",
        in_stock=True,
        created_at="2024-05-01T10:00:00Z",
        sales=sales,
    )


CATALOGUE = [
    product("p1", "Ceramic Teapot", "kitchen", 2400, sales=3),
    product("p2", "Ceramik Teacup", "kitchen", 800, sales=500),  # the typo is in the catalogue
    product("p3", "Woollen Blanket", "home", 6000),
    product("p4", "Linen Tablecloth", "home", 3500),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[OpenSearchSearch]:
    alias = f"test-products-{uuid.uuid4().hex[:8]}"
    search = OpenSearchSearch(os.environ["OPENSEARCH_URL"], alias)
    assert search.rebuild(CATALOGUE) == len(CATALOGUE)
    yield search
    client = search._client  # the test's own alias and indexes, gone with it
    client.indices.delete(index=f"{alias}-*", ignore=[404])


def ids(engine: OpenSearchSearch, q: str, **kwargs: object) -> list[str]:
    page = engine.search(SearchRequest(SearchQuery(q=q, **kwargs)))  # type: ignore[arg-type]
    return [item.product_id for item in page.items]


def test_a_misspelt_word_finds_the_product(engine: OpenSearchSearch) -> None:
    assert ids(engine, "blankit ") == ["p3"]
    assert ids(engine, "tablecolth ") == ["p4"]  # a transposition


def test_an_exact_match_outranks_a_typo_whatever_sells_more(engine: OpenSearchSearch) -> None:
    assert ids(engine, "ceramic ")[:2] == ["p1", "p2"]


def test_the_word_being_typed_is_completed(engine: OpenSearchSearch) -> None:
    assert ids(engine, "wool") == ["p3"]


def test_facets_count_everything_that_matched(engine: OpenSearchSearch) -> None:
    page = engine.search(SearchRequest(SearchQuery(q="")))
    assert page.total == 4
    assert {(f.value, f.count) for f in page.facets.category} == {("kitchen", 2), ("home", 2)}
    assert [b.count for b in page.facets.price] == [0, 1, 0, 2, 1]


def test_a_write_is_seen_by_the_next_search_and_a_removal_too(engine: OpenSearchSearch) -> None:
    engine.put([product("p5", "Copper Kettle", "kitchen", 4200)])
    assert ids(engine, "kettle ") == ["p5"]
    assert engine.get("p5") is not None
    engine.remove(["p5"])
    assert ids(engine, "kettle ") == []
    assert engine.count() == 4
