"""The managed engine: an OpenSearch index behind an alias, for AWS (OpenSearch Serverless).

Like the Tantivy engine, it indexes OUR terms (`shop.search.analysis.terms`) into fields with
the `whitespace` analyzer, so a query word is one term on either engine and the typo budget
(`typo_budget`) means the same: every query word becomes a `match` with an explicit
`fuzziness` of 0, 1 or 2. OpenSearch finds and counts the candidates (and the facets);
`shop.search.ranking.rank` orders them, the same as for Tantivy.

The index lives behind an alias (`products`): a full reindex creates `products-<timestamp>`
with `PRODUCT_MAPPING`, loads it, and moves the alias in one `_aliases` request (searches see
the old index or the new, never a half-built one), then deletes the old indexes. The first
write to a collection with no alias creates an empty index behind it, as Tantivy creates its
first generation.

Where OpenSearch Serverless differs from an OpenSearch server (what is assumed here):

- It has no refresh API and ignores `?refresh`: a write becomes visible to searches within
  the collection's own refresh (seconds), not by the next search. `get` (by id) is real time
  on both. On a server (`OPENSEARCH_URL`) writes pass `refresh=true`, so that they are
  visible to the next search as `SearchEngine.put` promises, and a rebuild refreshes the new
  index before the alias moves to it.
- A search collection accepts our own `_id`s in `_bulk` (a time-series collection would not).
- Index settings (shards, replicas) are the service's: only mappings are sent.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from shop.errors import DependencyUnavailable, ShopError
from shop.search import ranking
from shop.search.analysis import Expansion, terms, typo_budget
from shop.search.engine import (
    DESCRIPTION_BOOST,
    NAME_BOOST,
    NO_AGGREGATIONS,
    NO_FACETS,
    SKU_BOOST,
    SearchRequest,
    facet_aggregations,
    facets_of,
    page_of,
)
from shop.search.models import (
    ProductDocument,
    SearchPage,
)
from shop.search.ranking import (
    Candidate,
    Matcher,
    QueryWords,
    expansion_matcher,
    rank,
    rank_page,
    typo_matcher,
    window_for,
)

PREFIX_QUALITY = 0.45  # a completion counts less than a whole word (Tantivy's `_quality`)
BULK_BATCH = 500  # documents per `_bulk` request of a rebuild
TIMEOUT_SECONDS = 10
SERVICE = "aoss"  # SigV4 service name of OpenSearch Serverless ("es" for a managed domain)
_UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})

_stored_only_text: dict[str, Any] = {"type": "text", "index": False}
_stored_only_keyword: dict[str, Any] = {"type": "keyword", "index": False, "doc_values": False}

PRODUCT_MAPPING: dict[str, Any] = {
    # Fields not listed are kept in _source, not indexed (a new ProductDocument field does
    # not fail the indexer; it is searchable once mapped).
    "dynamic": False,
    "properties": {
        # searched: our terms, space-separated, split again by the whitespace analyzer
        "name_terms": {"type": "text", "analyzer": "whitespace"},
        "description_terms": {"type": "text", "analyzer": "whitespace"},
        "sku": {"type": "keyword"},  # the variants' SKUs, lower case
        # filtered, sorted and counted
        "product_id": {"type": "keyword"},
        "category": {"type": "keyword"},
        "price": {"type": "long"},
        "in_stock": {"type": "boolean"},
        "created": {"type": "date", "format": "epoch_second"},
        "sales": {"type": "long"},  # the blend: field_value_factor ln1p
        # the stored document, read back from _source
        "name": _stored_only_text,
        "description": _stored_only_text,
        "currency": _stored_only_keyword,
        "skus": _stored_only_keyword,
        "attributes": _stored_only_keyword,
        "created_at": _stored_only_keyword,
        "version": {"type": "long", "index": False},
    },
}

T = TypeVar("T")


# ----------------------------------------------------------------------------- documents
def _epoch(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def index_document(document: ProductDocument) -> dict[str, Any]:
    """The `_source` of one product: the document as it is, and the fields derived from it."""
    searchable = " ".join([document.description, *document.attributes])
    return {
        **document.model_dump(mode="json"),
        "sales": max(document.sales, 0),
        "name_terms": " ".join(terms(document.name)),
        "description_terms": " ".join(terms(searchable)),
        "sku": [sku.lower() for sku in document.skus],
        "created": _epoch(document.created_at),
    }


def stored_document(source: dict[str, Any]) -> ProductDocument:
    return ProductDocument.model_validate(
        {k: v for k, v in source.items() if k in ProductDocument.model_fields}
    )


# ----------------------------------------------------------------------------- request bodies
def _word_clause(
    word: str, *, typed: str, fuzzy: bool, prefix: bool, name_only: bool
) -> dict[str, Any]:
    """What one query word matches: its typos in the name or the description, its
    completions when the shopper is still typing it, a SKU when it holds a digit."""
    fields = [("name_terms", NAME_BOOST)]
    if not name_only:
        fields.append(("description_terms", DESCRIPTION_BOOST))
    alternatives: list[dict[str, Any]] = []
    for field, boost in fields:
        match: dict[str, Any] = {"query": word, "boost": boost}
        if fuzzy:
            match.update(
                # an integer: OUR budget (of the word as typed), not OpenSearch's AUTO
                fuzziness=typo_budget(typed),
                prefix_length=1,  # the first letter is never edited
                fuzzy_transpositions=True,
            )
        alternatives.append({"match": {field: match}})
    if prefix:
        alternatives.extend(
            {"prefix": {field: {"value": word, "boost": boost * PREFIX_QUALITY}}}
            for field, boost in fields
        )
    if any(c.isdigit() for c in word):
        alternatives.append({"term": {"sku": {"value": word, "boost": SKU_BOOST}}})
    return {"dis_max": {"queries": alternatives}}


def _filters(request: SearchRequest) -> list[dict[str, Any]]:
    query = request.query
    filters: list[dict[str, Any]] = []
    if query.category is not None:
        filters.append({"term": {"category": query.category}})
    if query.min_price is not None or query.max_price is not None:
        bounds: dict[str, int] = {}
        if query.min_price is not None:
            bounds["gte"] = query.min_price
        if query.max_price is not None:
            bounds["lte"] = query.max_price
        filters.append({"range": {"price": bounds}})
    if query.in_stock is not None:
        filters.append({"term": {"in_stock": query.in_stock}})
    return filters


_SORTS: dict[str, list[dict[str, Any]]] = {
    "price_asc": [{"price": {"order": "asc"}}],
    "price_desc": [{"price": {"order": "desc"}}],
    "newest": [{"created": {"order": "desc"}}],
    "bestselling": [{"sales": {"order": "desc"}}],
}


def search_body(request: SearchRequest, *, every_word: bool | None = None) -> dict[str, Any]:
    """The `_search` body for `request`: every query word must match (`every_word`, the
    default but for `ranking="bm25"`), or any of them (the fallback when no product has all
    of them, and the bm25 baseline). A pure function: what the engine sends, testable alone."""
    query = request.query
    words = QueryWords.parse(query.q)
    bm25 = request.ranking == "bm25"
    if every_word is None:
        every_word = not bm25
    clauses = [
        _word_clause(
            word,
            typed=words.typed[i],
            fuzzy=not bm25,
            prefix=not bm25 and words.is_prefix(i),
            name_only=request.name_only,
        )
        for i, word in enumerate(words.words)
    ]
    boolean: dict[str, Any] = {}
    if clauses and every_word:
        boolean["must"] = clauses
    elif clauses:
        boolean["should"] = clauses
        boolean["minimum_should_match"] = 1
    else:
        boolean["must"] = [{"match_all": {}}]
    if words.skus and not bm25:
        # A whole SKU typed ("TSHIRT-001-L") finds its product whatever its words match.
        boolean = {
            "should": [
                {"terms": {"sku": list(words.skus), "boost": SKU_BOOST}},
                {"bool": boolean},
            ],
            "minimum_should_match": 1,
        }
    filters = _filters(request)
    if filters:
        boolean["filter"] = filters
    text: dict[str, Any] = {"bool": boolean}
    body: dict[str, Any] = {"track_total_hits": True}
    if query.sort != "relevance":
        body.update(
            query=text,
            sort=[*_SORTS[query.sort], {"product_id": {"order": "asc"}}],
            **{"from": request.offset, "size": query.limit},
        )
    elif bm25:
        body.update(query=text, **{"from": request.offset, "size": query.limit})
    else:
        body.update(
            query={
                "function_score": {
                    "query": text,
                    # 1 + POPULARITY * ln(1 + sales): the functions summed, times the text score
                    "functions": [
                        {"weight": 1},
                        {
                            "field_value_factor": {
                                "field": "sales",
                                "modifier": "ln1p",
                                "factor": 1,
                                "missing": 0,
                            },
                            "weight": ranking.POPULARITY,
                        },
                    ],
                    "score_mode": "sum",
                    "boost_mode": "multiply",
                }
            },
            **{"from": 0, "size": window_for(request.offset, query.limit)},
        )
    if request.facets:
        body["aggs"] = facet_aggregations()
    return body


# ----------------------------------------------------------------------------- responses
def _total(response: dict[str, Any]) -> int:
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, dict) else total)


# ----------------------------------------------------------------------------- the client
def make_client(endpoint: str) -> OpenSearch:
    """`OPENSEARCH_URL`, when set, is a self-hosted or local server, called unsigned;
    otherwise `endpoint` is an OpenSearch Serverless collection, signed with SigV4 (service
    `aoss`) from the function's credentials."""
    from opensearchpy import RequestsHttpConnection

    from shop.aws import MAX_POOL_CONNECTIONS

    local = os.environ.get("OPENSEARCH_URL")
    options: dict[str, Any] = {
        "timeout": TIMEOUT_SECONDS,
        "max_retries": 2,
        "retry_on_timeout": True,
        "pool_maxsize": MAX_POOL_CONNECTIONS,
        "connection_class": RequestsHttpConnection,
    }
    if local:
        return OpenSearch(hosts=[local], **options)
    import boto3
    from opensearchpy import AWSV4SignerAuth

    session = boto3.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    credentials = session.get_credentials()
    if credentials is None:
        raise ShopError("no AWS credentials to sign OpenSearch requests with")
    return OpenSearch(
        hosts=[endpoint],
        http_auth=AWSV4SignerAuth(credentials, region, SERVICE),
        use_ssl=True,
        verify_certs=True,
        **options,
    )


@contextmanager
def _reachable() -> Iterator[None]:
    """OpenSearch not answering (a timeout, a refused connection, a throttle, a 5xx of its
    own) is a slow moment: `DependencyUnavailable`, retried by the caller."""
    try:
        yield
    except OpenSearchConnectionError as error:
        raise DependencyUnavailable(f"OpenSearch did not answer: {error}") from error
    except TransportError as error:
        if error.status_code in _UNAVAILABLE_STATUSES:
            raise DependencyUnavailable(
                f"OpenSearch refused the request for now ({error.status_code}); retry"
            ) from error
        raise


def _new_index_name(alias: str) -> str:
    return f"{alias}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


class OpenSearchSearch:
    """`SearchEngine` on the OpenSearch index behind `alias`."""

    def __init__(
        self,
        endpoint: str = "",
        alias: str = "products",
        *,
        client: OpenSearch | None = None,
        refresh: bool | None = None,
    ) -> None:
        self.alias = alias
        self._client = client if client is not None else make_client(endpoint)
        # Serverless has no refresh; a server is refreshed so a write is seen by the next search.
        self._refresh = bool(os.environ.get("OPENSEARCH_URL")) if refresh is None else refresh
        self._alias_ready = False

    # ------------------------------------------------------------------ writing
    def put(self, documents: Sequence[ProductDocument]) -> None:
        self.apply(documents, [])

    def remove(self, product_ids: Sequence[str]) -> None:
        self.apply([], product_ids)

    def apply(self, documents: Sequence[ProductDocument], removed: Sequence[str]) -> None:
        """Put and remove in one `_bulk` request. Unlike the Tantivy engine, it does not guard
        against an older version overwriting a newer one (Serverless has no external
        versioning): the next change of the product, or a rebuild, puts it right."""
        if not documents and not removed:
            return
        self._ensure_alias()
        lines: list[dict[str, Any]] = [{"delete": {"_id": product_id}} for product_id in removed]
        for document in documents:
            lines += [{"index": {"_id": document.product_id}}, index_document(document)]
        self._bulk(self.alias, lines, refresh=self._refresh)

    def _bulk(self, index: str, lines: list[dict[str, Any]], *, refresh: bool) -> None:
        options: dict[str, Any] = {"refresh": "true"} if refresh else {}
        with _reachable():
            response: dict[str, Any] = self._client.bulk(body=lines, index=index, **options)
        if not response.get("errors"):
            return
        failed = [
            outcome
            for item in response.get("items", [])
            for outcome in item.values()
            if "error" in outcome
        ]
        if failed and all(int(f.get("status", 0)) in _UNAVAILABLE_STATUSES for f in failed):
            raise DependencyUnavailable(f"OpenSearch refused {len(failed)} writes for now; retry")
        if failed:
            raise ShopError(
                f"OpenSearch refused {len(failed)} of the writes",
                details={"first": {k: failed[0].get(k) for k in ("_id", "status", "error")}},
            )

    def _ensure_alias(self) -> None:
        """The alias exists before the first write, on an index with our mapping (a write to
        a missing alias would create an index of that name with guessed mappings)."""
        if self._alias_ready:
            return
        with _reachable():
            if not self._client.indices.exists_alias(name=self.alias):
                # One name for the first index, whoever writes first: two indexers racing on
                # a fresh collection create it once (the second is told it exists), rather than
                # two indexes behind one alias, which no write could then address.
                try:
                    self._client.indices.create(
                        index=f"{self.alias}-initial",
                        body={"mappings": PRODUCT_MAPPING, "aliases": {self.alias: {}}},
                    )
                except RequestError as error:
                    if error.error != "resource_already_exists_exception":
                        raise
        self._alias_ready = True

    def rebuild(self, documents: Iterable[ProductDocument]) -> int:
        """Create a new index, load `documents` into it, move the alias to it in one atomic
        `_aliases` request, then delete the indexes the alias left. Returns how many were
        indexed. A write made to the old index while this runs is lost with it (the indexer's
        next change, or the next rebuild, brings it back), as on Tantivy."""
        index = _new_index_name(self.alias)
        with _reachable():
            self._client.indices.create(index=index, body={"mappings": PRODUCT_MAPPING})
        count = 0
        try:
            batch: list[dict[str, Any]] = []
            for document in documents:
                batch += [{"index": {"_id": document.product_id}}, index_document(document)]
                count += 1
                if len(batch) >= 2 * BULK_BATCH:
                    self._bulk(index, batch, refresh=False)
                    batch = []
            if batch:
                self._bulk(index, batch, refresh=False)
            with _reachable():
                if self._refresh:
                    self._client.indices.refresh(index=index)
                previous = self._indexes_behind_alias()
                actions: list[dict[str, Any]] = [
                    {"remove": {"index": old, "alias": self.alias}} for old in previous
                ]
                actions.append({"add": {"index": index, "alias": self.alias}})
                self._client.indices.update_aliases(body={"actions": actions})
        except BaseException:
            with _reachable():
                self._client.indices.delete(index=index, ignore=[404])
            raise
        self._alias_ready = True
        with _reachable():
            stale = set(previous) | set(self._our_indexes())
            for old in sorted(stale - {index}):
                self._client.indices.delete(index=old, ignore=[404])
        return count

    def _indexes_behind_alias(self) -> list[str]:
        try:
            found: dict[str, Any] = self._client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return []
        return sorted(found)

    def _our_indexes(self) -> list[str]:
        """Indexes named as this alias's generations (a failed rebuild's leftovers too)."""
        found: dict[str, Any] = self._client.indices.get(
            index=f"{self.alias}-*", ignore_unavailable=True
        )
        return sorted(found)

    # ------------------------------------------------------------------ reading
    def _read(self, call: Callable[[], T], missing: T) -> T:
        """A read of the alias, `missing` when there is no index yet (nothing written)."""
        with _reachable():
            try:
                return call()
            except NotFoundError:
                return missing

    def count(self) -> int:
        response = self._read(lambda: self._client.count(index=self.alias), {"count": 0})
        return int(response["count"])

    def get(self, product_id: str) -> ProductDocument | None:
        response = self._read(lambda: self._client.get(index=self.alias, id=product_id), None)
        if response is None or not response.get("found"):
            return None
        return stored_document(response["_source"])

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        empty: dict[str, Any] = {"hits": {"total": {"value": 0}, "hits": []}}
        return self._read(lambda: self._client.search(index=self.alias, body=body), empty)

    def search(self, request: SearchRequest) -> SearchPage:
        query = request.query
        words = QueryWords.parse(query.q)
        bm25 = request.ranking == "bm25"
        body = search_body(request)
        response = self._search(body)
        total = _total(response)
        if total == 0 and len(words.words) > 1 and not bm25:
            # No product has every word: the ones with most of them, as the ranking orders.
            body = search_body(request, every_word=False)
            response = self._search(body)
            total = _total(response)
        matcher: Matcher = (
            expansion_matcher([[Expansion(w, 0, False)] for w in words.words])
            if bm25
            else typo_matcher(words)
        )
        hits = response["hits"]["hits"]
        candidates = [
            Candidate.of(stored_document(hit["_source"]), float(hit.get("_score") or 0.0))
            for hit in hits
        ]
        offset, limit = request.offset, query.limit
        if query.sort == "relevance" and not bm25:
            page = rank_page(candidates, offset, limit, words, matcher, request.profile)
        else:  # the engine's order: a sort, or the bm25 baseline
            by_id = {r.document.product_id: r for r in rank(candidates, words, matcher)}
            page = [by_id[c.product_id] for c in candidates]
        if not request.facets:
            facets = NO_FACETS
        else:  # no aggregations: no index yet, nothing to count
            facets = facets_of(response.get("aggregations") or NO_AGGREGATIONS)
        return page_of(query, offset, page, total, facets)


__all__ = [
    "PRODUCT_MAPPING",
    "OpenSearchSearch",
    "facets_of",
    "index_document",
    "make_client",
    "search_body",
    "stored_document",
]
