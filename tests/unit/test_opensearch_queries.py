"""The OpenSearch engine (shop.search.opensearch_engine), without a server: the request bodies
it builds, checked against the shapes OpenSearch documents (bool/dis_max/match with fuzziness,
prefix, term, function_score with field_value_factor, terms and range aggregations, sort,
from/size, _bulk NDJSON, _aliases actions), and the adapter run end to end against a client
whose connection records every request and answers with documented responses.

The typo rules are ours (shop.search.analysis.typo_budget), so each word's `fuzziness` is an
explicit integer, never OpenSearch's AUTO (whose thresholds differ: 3-5 letters one edit)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opensearchpy import AWSV4SignerAuth, Connection, OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout

from shop.errors import DependencyUnavailable, ShopError
from shop.search.engine import SearchRequest
from shop.search.models import PRICE_BUCKETS, ProductDocument, SearchQuery, ShopperProfile
from shop.search.opensearch_engine import (
    PRODUCT_MAPPING,
    OpenSearchSearch,
    index_document,
    make_client,
    search_body,
    stored_document,
)
from shop.search.ranking import POPULARITY, RERANK_WINDOW
from shop.search.tantivy_engine import popularity

ALIAS = "products"
OLD_INDEX = "products-20240101000000-aaaaaa"


def _request(q: str, kwargs: dict[str, Any]) -> SearchRequest:
    names = ("offset", "profile", "ranking", "facets", "name_only")
    options = {k: kwargs.pop(k) for k in names if k in kwargs}
    return SearchRequest(SearchQuery(q=q, **kwargs), **options)


def body(q: str = "", **kwargs: Any) -> dict[str, Any]:
    return search_body(_request(q, kwargs))


def text_query(found: dict[str, Any]) -> dict[str, Any]:
    """The bool query of a body, inside the function_score of a relevance search."""
    query: dict[str, Any] = found["query"]
    inner: dict[str, Any] = query["function_score"]["query"] if "function_score" in query else query
    return inner


def word_clauses(found: dict[str, Any]) -> list[dict[str, Any]]:
    boolean = text_query(found)["bool"]
    return list(boolean.get("must", boolean.get("should", [])))


def alternatives(clause: dict[str, Any]) -> list[dict[str, Any]]:
    return list(clause["dis_max"]["queries"])


def matches(clause: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """field -> the match query's parameters, for one word's dis_max."""
    return {f: p for q in alternatives(clause) if "match" in q for f, p in q["match"].items()}


def product(product_id: str = "p1", **fields: Any) -> ProductDocument:
    base: dict[str, Any] = {
        "product_id": product_id,
        "version": 1,
        "name": "Red Ceramic Mug",
        "description": "A sturdy mug for tea",
        "category": "kitchen",
        "skus": ["MUG-RED-01"],
        "price": 1200,
        "currency": "GBP",
        "in_stock": True,
        "created_at": "2024-05-01T10:00:00Z",
        "sales": 3,
        "attributes": ["Red"],
    }
    return ProductDocument(**{**base, **fields})


# ============================================================================ request bodies
def test_every_query_word_must_match_in_the_name_or_the_description() -> None:
    found = body("ceramic kettle ")
    clauses = text_query(found)["bool"]["must"]
    assert len(clauses) == 2
    for clause, word in zip(clauses, ["ceramic", "kettle"], strict=True):
        fields = matches(clause)
        assert set(fields) == {"name_terms", "description_terms"}
        assert fields["name_terms"]["query"] == word
        assert fields["name_terms"]["boost"] == 3.0  # name_terms^3
        assert fields["description_terms"]["boost"] == 1.0


def test_query_words_are_our_terms_lower_case_unaccented_and_singular() -> None:
    clauses = word_clauses(body("Café HEARTS "))
    assert [matches(c)["name_terms"]["query"] for c in clauses] == ["cafe", "heart"]


@pytest.mark.parametrize("word", ["mug", "tea", "lamp"])
def test_a_word_of_up_to_four_letters_must_be_spelt_exactly(word: str) -> None:
    (clause,) = word_clauses(body(word + " "))
    assert {p["fuzziness"] for p in matches(clause).values()} == {0}


def test_a_five_letter_word_allows_one_typo_and_never_on_the_first_letter() -> None:
    (clause,) = word_clauses(body("kettl "))
    for params in matches(clause).values():
        assert params["fuzziness"] == 1
        assert params["prefix_length"] == 1
        assert params["fuzzy_transpositions"] is True


@pytest.mark.parametrize(
    ("word", "typos"),
    [("candle", 1), ("blankets", 1), ("ceramicss", 2), ("tablecloth", 2), ("waterproofed", 2)],
)
def test_up_to_eight_letters_allow_one_typo_and_longer_words_two(word: str, typos: int) -> None:
    (clause,) = word_clauses(body(word + " "))
    assert {p["fuzziness"] for p in matches(clause).values()} == {typos}
    assert all(isinstance(p["fuzziness"], int) for p in matches(clause).values())


def test_a_word_holding_a_digit_allows_no_typo_and_also_matches_a_sku() -> None:
    (clause,) = word_clauses(body("mug2024 "))
    assert {p["fuzziness"] for p in matches(clause).values()} == {0}
    assert {"term": {"sku": {"value": "mug2024", "boost": 10.0}}} in alternatives(clause)


def test_a_word_without_a_digit_does_not_look_at_skus() -> None:
    (clause,) = word_clauses(body("kettle "))
    assert not [q for q in alternatives(clause) if "term" in q]


def test_the_word_still_being_typed_also_matches_as_a_prefix_of_a_term() -> None:
    first, last = word_clauses(body("red ket"))
    assert not [q for q in alternatives(first) if "prefix" in q]
    prefixes = [q["prefix"] for q in alternatives(last) if "prefix" in q]
    assert {f for p in prefixes for f in p} == {"name_terms", "description_terms"}
    assert all(p[f]["value"] == "ket" for p in prefixes for f in p)
    # still a word of its own too: "ket" exactly (three letters, no typo)
    assert matches(last)["name_terms"]["fuzziness"] == 0


def test_a_finished_word_is_not_a_prefix() -> None:
    for q in ("red ket ", "red ket."):
        (_, last) = word_clauses(body(q))
        assert not [a for a in alternatives(last) if "prefix" in a]


def test_filters_go_in_filter_not_must() -> None:
    found = body("mug ", category="kitchen", min_price=500, max_price=2000, in_stock=True)
    boolean = text_query(found)["bool"]
    assert boolean["filter"] == [
        {"term": {"category": "kitchen"}},
        {"range": {"price": {"gte": 500, "lte": 2000}}},
        {"term": {"in_stock": True}},
    ]
    assert all("dis_max" in clause for clause in boolean["must"])


def test_an_open_price_range_has_only_its_bound() -> None:
    assert text_query(body(min_price=500))["bool"]["filter"] == [{"range": {"price": {"gte": 500}}}]
    assert text_query(body(max_price=900))["bool"]["filter"] == [{"range": {"price": {"lte": 900}}}]


def test_no_words_matches_every_product_the_filters_let_through() -> None:
    boolean = text_query(body(in_stock=False))["bool"]
    assert boolean["must"] == [{"match_all": {}}]
    assert boolean["filter"] == [{"term": {"in_stock": False}}]
    assert "filter" not in text_query(body())["bool"]


def test_when_no_product_has_every_word_any_of_them_will_do() -> None:
    found = search_body(_request("red kettle ", {}), every_word=False)
    boolean = text_query(found)["bool"]
    assert "must" not in boolean
    assert len(boolean["should"]) == 2
    assert boolean["minimum_should_match"] == 1
    assert all(matches(c)["name_terms"]["fuzziness"] == typo for c, typo in
               zip(boolean["should"], [0, 1], strict=True))  # fmt: skip


def test_relevance_fetches_a_window_from_the_top_for_the_ranking_rules() -> None:
    found = body("mug ")
    assert (found["from"], found["size"]) == (0, RERANK_WINDOW)
    deep = body("mug ", offset=RERANK_WINDOW + 100, limit=20)
    assert (deep["from"], deep["size"]) == (0, 2 * RERANK_WINDOW)  # whole blocks
    assert found["track_total_hits"] is True
    assert "sort" not in found  # by _score


def test_sales_lift_the_text_score_as_they_do_on_tantivy() -> None:
    scoring = body("mug ")["query"]["function_score"]
    assert scoring["boost_mode"] == "multiply"
    assert scoring["score_mode"] == "sum"
    assert scoring["functions"] == [
        {"weight": 1},
        {
            "field_value_factor": {"field": "sales", "modifier": "ln1p", "factor": 1, "missing": 0},
            "weight": POPULARITY,
        },
    ]
    for sales in (0, 1, 7, 250, 10_000):
        # what those functions compute (ln1p: natural log of 1 + value, times its weight,
        # summed) is the multiplier Tantivy's weight_by_field makes of the popularity field
        opensearch = 1 + POPULARITY * math.log1p(sales)
        tantivy = math.log2(2 + popularity(sales))
        assert opensearch == pytest.approx(tantivy)


def test_an_empty_query_is_ordered_by_sales_alone() -> None:
    scoring = body()["query"]["function_score"]
    assert scoring["query"] == {"bool": {"must": [{"match_all": {}}]}}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("price_asc", {"price": {"order": "asc"}}),
        ("price_desc", {"price": {"order": "desc"}}),
        ("newest", {"created": {"order": "desc"}}),
        ("bestselling", {"sales": {"order": "desc"}}),
    ],
)
def test_a_sorted_search_pages_with_from_and_size_and_breaks_ties_by_product(
    sort: str, order: dict[str, Any]
) -> None:
    found = body("mug ", sort=sort, offset=40, limit=20)
    assert found["sort"] == [order, {"product_id": {"order": "asc"}}]
    assert (found["from"], found["size"]) == (40, 20)
    assert "function_score" not in found["query"]
    assert found["track_total_hits"] is True


def test_bm25_is_the_exact_words_any_of_them_without_sales() -> None:
    found = body("red kettl", ranking="bm25")
    boolean = found["query"]["bool"]
    assert "function_score" not in found["query"]
    assert boolean["minimum_should_match"] == 1
    for clause in boolean["should"]:
        assert not [q for q in alternatives(clause) if "prefix" in q]
        for params in matches(clause).values():
            assert set(params) == {"query", "boost"}  # no fuzziness at all
    assert (found["from"], found["size"]) == (0, 20)


def test_suggestions_look_in_names_only() -> None:
    (clause,) = word_clauses(body("ket", name_only=True, facets=False))
    assert set(matches(clause)) == {"name_terms"}
    assert [f for q in alternatives(clause) if "prefix" in q for f in q["prefix"]] == ["name_terms"]


def test_facets_count_the_categories_and_the_price_buckets() -> None:
    aggs = body("mug ")["aggs"]
    assert aggs["category"] == {"terms": {"field": "category", "size": 100}}
    assert aggs["price"] == {
        "range": {
            "field": "price",
            "ranges": [
                {"from": 0, "to": 500},
                {"from": 500, "to": 1000},
                {"from": 1000, "to": 2000},
                {"from": 2000, "to": 5000},
                {"from": 5000},
            ],
        }
    }
    assert len(aggs["price"]["range"]["ranges"]) == len(PRICE_BUCKETS)
    assert "aggs" not in body("mug ", facets=False)


# ============================================================================ the mapping
def test_the_mapping_indexes_our_terms_with_the_whitespace_analyzer() -> None:
    fields = PRODUCT_MAPPING["properties"]
    assert fields["name_terms"] == {"type": "text", "analyzer": "whitespace"}
    assert fields["description_terms"] == {"type": "text", "analyzer": "whitespace"}
    assert {name: fields[name]["type"] for name in fields if name in _QUERIED} == {
        "product_id": "keyword",
        "sku": "keyword",
        "category": "keyword",
        "price": "long",
        "in_stock": "boolean",
        "created": "date",
        "sales": "long",
    }
    assert fields["created"]["format"] == "epoch_second"


_QUERIED = {"product_id", "sku", "category", "price", "in_stock", "created", "sales"}


def _fields_used(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _fields_used(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in {"terms", "range", "field_value_factor"} and "field" in value:
                yield value["field"]  # an aggregation or a scoring function
            elif key in {"match", "prefix", "term", "range"}:
                yield from value  # a query: {field: parameters}
            elif key == "sort":
                yield from (f for order in value for f in order)
            yield from _fields_used(value)


def test_every_field_searched_filtered_sorted_or_counted_is_mapped() -> None:
    used: set[str] = set()
    for kwargs in (
        {"q": "red mug2 ke", "category": "kitchen", "min_price": 1, "in_stock": True},
        {"q": "mug", "sort": "newest"},
        {"q": "mug", "sort": "bestselling"},
        {"q": "mug", "sort": "price_asc"},
    ):
        used |= set(_fields_used(body(**kwargs)))
    mapped = PRODUCT_MAPPING["properties"]
    assert used <= set(mapped)
    assert all(mapped[f].get("index", True) for f in used)


def test_the_stored_document_comes_back_whole_from_source() -> None:
    document = product(description="Holds 300ml", attributes=["Red", "Large"])
    source = index_document(document)
    assert source["name_terms"] == "red ceramic mug"
    assert source["description_terms"] == "hold 300ml red large"
    assert source["sku"] == ["mug-red-01"]
    assert source["created"] == 1714557600
    assert set(source) <= set(PRODUCT_MAPPING["properties"])
    assert set(ProductDocument.model_fields) <= set(PRODUCT_MAPPING["properties"])
    assert stored_document(json.loads(json.dumps(source))) == document


# ============================================================================ a fake server
@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, Any]
    body: Any

    def ndjson(self) -> list[dict[str, Any]]:
        assert isinstance(self.body, str)
        assert self.body.endswith("\n")
        return [json.loads(line) for line in self.body.splitlines()]


Answer = tuple[int, dict[str, Any]] | Callable[[Sent], tuple[int, dict[str, Any]]]


def not_found(index: str = ALIAS) -> tuple[int, dict[str, Any]]:
    reason = {"type": "index_not_found_exception", "reason": f"no such index [{index}]"}
    return 404, {"error": {"root_cause": [reason], **reason, "index": index}, "status": 404}


@dataclass
class FakeServer:
    """Answers requests by (method, path pattern); every request is kept, in order."""

    routes: list[tuple[str, re.Pattern[str], list[Answer]]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        """Answer in turn with `answers` (the last one again once they are used up)."""
        self.routes.insert(0, (method, re.compile(path + "$"), list(answers)))

    def answer(self, request: Sent) -> tuple[int, dict[str, Any]]:
        for method, pattern, answers in self.routes:
            if method == request.method and pattern.match(request.path):
                found = answers.pop(0) if len(answers) > 1 else answers[0]
                return found(request) if callable(found) else found
        return 200, {"acknowledged": True}

    def client(self) -> OpenSearch:
        server = self

        class Recorded(Connection):
            def perform_request(
                self,
                method: str,
                url: str,
                params: Any = None,
                body: bytes | None = None,
                timeout: Any = None,
                ignore: Any = (),
                headers: Any = None,
            ) -> Any:
                text = body.decode() if isinstance(body, bytes) else body
                decoded = text
                if text and not text.endswith("\n"):
                    decoded = json.loads(text)
                query = {
                    k: v.decode() if isinstance(v, bytes) else v for k, v in (params or {}).items()
                }
                sent = Sent(method, url, query, decoded)
                server.sent.append(sent)
                status, data = server.answer(sent)
                raw = json.dumps(data)
                if not 200 <= status < 300 and status not in ignore:
                    self._raise_error(status, raw, "application/json")
                return status, {"content-type": "application/json"}, raw

        return OpenSearch(hosts=[{"host": "search.test", "port": 443}], connection_class=Recorded)

    def paths(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.sent]


def hit(document: ProductDocument, score: float) -> dict[str, Any]:
    return {
        "_index": OLD_INDEX,
        "_id": document.product_id,
        "_score": score,
        "_source": index_document(document),
    }


def search_response(
    hits: list[dict[str, Any]], total: int | None = None, categories: dict[str, int] | None = None
) -> tuple[int, dict[str, Any]]:
    """A `_search` response as OpenSearch documents it: hits with `_source`, a total with its
    relation, a terms aggregation's buckets and a range aggregation's keyed buckets."""
    price_buckets = []
    for low, high in PRICE_BUCKETS:
        bucket: dict[str, Any] = {
            "key": f"{float(low)}-{'*' if high is None else float(high)}",
            "from": float(low),
            "doc_count": 0,
        }
        if high is not None:
            bucket["to"] = float(high)
        price_buckets.append(bucket)
    for h in hits:
        price = h["_source"]["price"]
        for bucket in price_buckets:
            if bucket["from"] <= price and ("to" not in bucket or price < bucket["to"]):
                bucket["doc_count"] += 1
    count = len(hits) if total is None else total
    return 200, {
        "took": 4,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": count, "relation": "eq"},
            "max_score": max((h["_score"] for h in hits), default=None),
            "hits": hits,
        },
        "aggregations": {
            "category": {
                "doc_count_error_upper_bound": 0,
                "sum_other_doc_count": 0,
                "buckets": [{"key": k, "doc_count": n} for k, n in (categories or {}).items()],
            },
            "price": {"buckets": price_buckets},
        },
    }


def bulk_response(request: Sent, status: int = 201, error: str | None = None) -> tuple[int, Any]:
    items = []
    for line in request.ndjson():
        if "index" not in line and "delete" not in line:
            continue
        action = "index" if "index" in line else "delete"
        outcome: dict[str, Any] = {"_index": OLD_INDEX, "_id": line[action]["_id"]}
        outcome["status"] = status
        if error:
            outcome["error"] = {"type": error, "reason": "refused"}
        else:
            outcome.update(_version=1, result="created" if action == "index" else "deleted")
        items.append({action: outcome})
    return 200, {"took": 2, "errors": error is not None, "items": items}


@pytest.fixture
def server() -> FakeServer:
    fake = FakeServer()
    fake.on("HEAD", r"/_alias/products", (200, {}))
    fake.on("POST", r"/[^/]+/_bulk", bulk_response)
    return fake


@pytest.fixture
def engine(server: FakeServer) -> OpenSearchSearch:
    return OpenSearchSearch(alias=ALIAS, client=server.client(), refresh=False)


MUG = product("p1", name="Red Ceramic Mug", sales=2)
KETTLE = product("p2", name="Ceramic Kettle", category="appliances", price=4500, sales=40)
TYPO = product("p3", name="Red Ceramik Bowl", price=300, sales=900)


# ============================================================================ searching
def test_a_search_goes_to_the_alias_and_comes_back_as_a_page(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on(
        "POST",
        r"/products/_search",
        search_response([hit(MUG, 5.0), hit(KETTLE, 4.0)], categories={"kitchen": 1, "app": 1}),
    )
    wanted = _request("ceramic ", {"limit": 1})
    page = engine.search(wanted)
    (sent,) = server.sent
    assert (sent.method, sent.path) == ("POST", "/products/_search")
    assert sent.body == search_body(wanted)
    (item,) = page.items
    assert item.product_id == "p1"
    assert item.highlight == "Red <em>Ceramic</em> Mug"
    assert (item.price.amount, item.price.currency) == (1200, "GBP")
    assert item.in_stock is True
    assert page.total == 2
    assert page.cursor is not None  # one of two shown
    assert [(f.value, f.count) for f in page.facets.category] == [("kitchen", 1), ("app", 1)]
    assert [(b.min, b.max, b.count) for b in page.facets.price] == [
        (0, 500, 0),
        (500, 1000, 0),
        (1000, 2000, 1),
        (2000, 5000, 1),
        (5000, None, 0),
    ]


def test_an_exact_word_outranks_a_typo_whatever_the_engine_scored(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products/_search", search_response([hit(TYPO, 9.0), hit(MUG, 2.0)]))
    page = engine.search(_request("red ceramic ", {}))
    assert [i.product_id for i in page.items] == ["p1", "p3"]
    assert page.items[1].highlight == "<em>Red</em> <em>Ceramik</em> Bowl"


def test_a_shoppers_profile_leans_the_blend_toward_what_they_buy(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    other = product("p4", name="Red Ceramic Cup", category="tableware")
    server.on("POST", r"/products/_search", search_response([hit(MUG, 3.0), hit(other, 2.9)]))
    profile = ShopperProfile(categories={"tableware": 1.0})
    page = engine.search(_request("ceramic ", {"profile": profile}))
    assert [i.product_id for i in page.items] == ["p4", "p1"]


def test_when_no_product_has_every_word_the_search_asks_for_any_of_them(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on(
        "POST",
        r"/products/_search",
        search_response([]),
        search_response([hit(KETTLE, 3.0), hit(MUG, 1.0)]),
    )
    page = engine.search(_request("ceramic teapot ", {}))
    first, second = server.sent
    assert "must" in first.body["query"]["function_score"]["query"]["bool"]
    assert second.body["query"]["function_score"]["query"]["bool"]["minimum_should_match"] == 1
    assert page.total == 2
    assert {i.product_id for i in page.items} == {"p1", "p2"}


def test_one_word_or_bm25_is_never_asked_again(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products/_search", search_response([]))
    engine.search(_request("teapot ", {}))
    engine.search(_request("ceramic teapot ", {"ranking": "bm25"}))
    assert len(server.sent) == 2


def test_a_sorted_search_keeps_the_engines_order_and_its_page(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products/_search", search_response([hit(TYPO, 0), hit(MUG, 0)], total=45))
    page = engine.search(_request("red ", {"sort": "price_asc", "offset": 20, "limit": 2}))
    assert [i.product_id for i in page.items] == ["p3", "p1"]
    assert server.sent[0].body["from"] == 20
    assert page.total == 45
    assert page.cursor is not None


def test_before_anything_is_indexed_searches_find_nothing(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products/_search", not_found())
    server.on("GET", r"/products/_doc/.*", not_found())
    server.on("POST", r"/products/_count", not_found())
    page = engine.search(_request("mug ", {}))
    assert (page.items, page.total, page.cursor) == ([], 0, None)
    assert [b.count for b in page.facets.price] == [0] * len(PRICE_BUCKETS)
    assert engine.get("p1") is None
    assert engine.count() == 0


def test_get_reads_the_stored_document_and_count_the_alias(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    source = index_document(MUG)
    found = {"_index": OLD_INDEX, "_id": "p1", "_version": 1, "found": True, "_source": source}
    server.on("GET", r"/products/_doc/p1", (200, found))
    server.on(
        "GET", r"/products/_doc/nope", (404, {"_index": OLD_INDEX, "_id": "nope", "found": False})
    )
    server.on("POST", r"/products/_count", (200, {"count": 3, "_shards": {"total": 1}}))
    assert engine.get("p1") == MUG
    assert engine.get("nope") is None
    assert engine.count() == 3


# ============================================================================ writing
def test_put_sends_one_bulk_index_action_per_product_with_its_id(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    engine.put([MUG, KETTLE])
    (bulk,) = [s for s in server.sent if s.path.endswith("/_bulk")]
    assert (bulk.method, bulk.path) == ("POST", "/products/_bulk")
    lines = bulk.ndjson()
    assert lines[0::2] == [{"index": {"_id": "p1"}}, {"index": {"_id": "p2"}}]
    assert lines[1::2] == [index_document(MUG), index_document(KETTLE)]
    assert "refresh" not in bulk.params  # Serverless: no refresh


def test_a_server_is_refreshed_on_every_write_so_the_next_search_sees_it(
    server: FakeServer,
) -> None:
    engine = OpenSearchSearch(alias=ALIAS, client=server.client(), refresh=True)
    engine.put([MUG])
    engine.remove(["p1"])
    bulks = [s for s in server.sent if s.path.endswith("/_bulk")]
    assert [b.params.get("refresh") for b in bulks] == ["true", "true"]


def test_remove_sends_bulk_deletes(server: FakeServer, engine: OpenSearchSearch) -> None:
    engine.remove(["p1", "p2"])
    engine.remove([])
    (bulk,) = [s for s in server.sent if s.path.endswith("/_bulk")]
    assert bulk.ndjson() == [{"delete": {"_id": "p1"}}, {"delete": {"_id": "p2"}}]


def test_the_first_write_creates_an_index_with_the_mapping_behind_the_alias(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("HEAD", r"/_alias/products", not_found())
    engine.put([MUG])
    engine.put([KETTLE])
    assert [p.split(" ")[0] for p in server.paths()] == ["HEAD", "PUT", "POST", "POST"]
    created = server.sent[1]
    assert created.path == "/products-initial"  # one name, whichever indexer writes first
    assert created.body == {"mappings": PRODUCT_MAPPING, "aliases": {"products": {}}}
    assert server.sent[2].path == "/products/_bulk"


def test_two_first_writers_create_the_first_index_once(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("HEAD", r"/_alias/products", not_found())
    server.on(
        "PUT",
        r"/products-initial",
        lambda s: (
            400,
            {
                "error": {"type": "resource_already_exists_exception"},
                "status": 400,
            },
        ),
    )
    engine.put([MUG])  # the other indexer created it a moment ago: this write goes on
    assert server.sent[-1].path == "/products/_bulk"


def test_a_refused_write_is_an_error_and_a_throttled_one_is_transient(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on(
        "POST", r"/products/_bulk", lambda s: bulk_response(s, 400, "mapper_parsing_exception")
    )
    with pytest.raises(ShopError, match="refused 1 of the writes") as refused:
        engine.put([MUG])
    assert not isinstance(refused.value, DependencyUnavailable)
    server.on("POST", r"/products/_bulk", lambda s: bulk_response(s, 429, "es_rejected_execution"))
    with pytest.raises(DependencyUnavailable):
        engine.put([MUG])


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionTimeout("TIMEOUT", "Read timed out", TimeoutError()),
        OpenSearchConnectionError("N/A", "Connection refused", OSError()),
    ],
    ids=["timeout", "unreachable"],
)
def test_timeouts_and_unreachable_servers_are_dependency_unavailable(
    server: FakeServer, engine: OpenSearchSearch, failure: Exception
) -> None:
    def fail(_: Sent) -> tuple[int, dict[str, Any]]:
        raise failure

    server.on("POST", r"/products/_search", fail)
    server.on("POST", r"/products/_bulk", fail)
    with pytest.raises(DependencyUnavailable):
        engine.search(_request("mug ", {}))
    with pytest.raises(DependencyUnavailable):
        engine.put([MUG])


def test_a_throttled_or_overloaded_server_is_dependency_unavailable(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products/_count", (503, {"error": "unavailable", "status": 503}))
    with pytest.raises(DependencyUnavailable):
        engine.count()
    server.on("POST", r"/products/_count", (400, {"error": "bad", "status": 400}))
    with pytest.raises(Exception, match="400") as bad:
        engine.count()
    assert not isinstance(bad.value, DependencyUnavailable)


# ============================================================================ rebuilding
def test_rebuild_loads_a_new_index_then_moves_the_alias_then_deletes_the_old(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    stray = "products-20231231000000-bbbbbb"  # a failed rebuild's leftover
    server.on("GET", r"/_alias/products", (200, {OLD_INDEX: {"aliases": {"products": {}}}}))
    server.on("GET", r"/products-\*", lambda _: (200, {OLD_INDEX: {}, stray: {}, new(): {}}))

    def new() -> str:
        return server.sent[0].path.lstrip("/")

    assert engine.rebuild(iter([MUG, KETTLE, TYPO])) == 3
    index = new()
    assert server.paths() == [
        f"PUT /{index}",
        f"POST /{index}/_bulk",
        "GET /_alias/products",
        "POST /_aliases",
        "GET /products-*",
        f"DELETE /{stray}",
        f"DELETE /{OLD_INDEX}",
    ]
    assert server.sent[0].body == {"mappings": PRODUCT_MAPPING}  # no alias until loaded
    assert len(server.sent[1].ndjson()) == 6
    assert server.sent[3].body == {
        "actions": [
            {"remove": {"index": OLD_INDEX, "alias": "products"}},
            {"add": {"index": index, "alias": "products"}},
        ]
    }


def test_the_first_rebuild_only_adds_the_alias(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("GET", r"/_alias/products", not_found())
    server.on("GET", r"/products-\*", (200, {}))
    assert engine.rebuild([]) == 0
    (aliases,) = [s for s in server.sent if s.path == "/_aliases"]
    index = server.sent[0].path.lstrip("/")
    assert aliases.body == {"actions": [{"add": {"index": index, "alias": "products"}}]}
    assert not [s for s in server.sent if s.path.endswith("/_bulk")]
    # the alias is there: a write goes straight to it
    engine.put([MUG])
    assert server.sent[-1].path == "/products/_bulk"


def test_a_rebuild_loads_in_batches(server: FakeServer, engine: OpenSearchSearch) -> None:
    server.on("GET", r"/_alias/products", not_found())
    server.on("GET", r"/products-\*", (200, {}))
    engine.rebuild(product(f"p{i}") for i in range(1201))
    sizes = [len(s.ndjson()) // 2 for s in server.sent if s.path.endswith("/_bulk")]
    assert sizes == [500, 500, 201]


def test_a_server_is_refreshed_before_the_alias_moves(server: FakeServer) -> None:
    engine = OpenSearchSearch(alias=ALIAS, client=server.client(), refresh=True)
    server.on("GET", r"/_alias/products", not_found())
    server.on("GET", r"/products-\*", (200, {}))
    engine.rebuild([MUG])
    index = server.sent[0].path.lstrip("/")
    paths = server.paths()
    assert paths.index(f"POST /{index}/_refresh") < paths.index("POST /_aliases")


def test_a_failed_rebuild_deletes_its_half_built_index_and_leaves_the_alias(
    server: FakeServer, engine: OpenSearchSearch
) -> None:
    server.on("POST", r"/products-.*/_bulk", lambda s: bulk_response(s, 400, "mapper_parsing"))
    with pytest.raises(ShopError):
        engine.rebuild([MUG])
    index = server.sent[0].path.lstrip("/")
    assert server.paths() == [f"PUT /{index}", f"POST /{index}/_bulk", f"DELETE /{index}"]


# ============================================================================ the client
def test_a_local_server_is_called_unsigned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", "http://localhost:9200")
    client = make_client("https://ignored.aoss.amazonaws.com")
    (connection,) = client.transport.connection_pool.connections
    assert connection.host == "http://localhost:9200"
    assert connection.session.auth is None


def test_serverless_is_signed_with_sigv4_for_aoss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    client = make_client("https://abc123.eu-west-2.aoss.amazonaws.com")
    (connection,) = client.transport.connection_pool.connections
    assert connection.host == "https://abc123.eu-west-2.aoss.amazonaws.com:443"
    auth = connection.session.auth
    assert isinstance(auth, AWSV4SignerAuth)
    assert auth.service == "aoss"
    assert auth.signer.region == "eu-west-2"
