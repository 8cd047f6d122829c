"""Search's rules: what a product looks like to the index, how changes reach it, and how a
shopper's query is answered.

The index is derived data. The catalog is the truth for what a product is, the inventory for
whether it can be bought, and the sales table for how often it was; the indexer reads all
three when a product changes (the event is a notice, not the data), and a full reindex reads
them all again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from html import escape
from typing import Any

from shop import breakers, clock, faults, metrics
from shop.catalog.events import ProductChanged
from shop.catalog.models import Product
from shop.catalog.service import repository as catalog
from shop.config import product_sales_table, search_engine, setting
from shop.errors import DependencyUnavailable, ProductNotFound
from shop.events import DomainEvent
from shop.inventory.service import any_in_stock
from shop.observability import get_logger
from shop.orders.events import OrderPlaced
from shop.orders.service import repository as orders
from shop.search.engine import (
    NO_AGGREGATIONS,
    SearchEngine,
    SearchRequest,
    decode_cursor,
    facets_of,
    suggestions,
)
from shop.search.models import (
    ProductDocument,
    SearchHit,
    SearchPage,
    SearchQuery,
    ShopperProfile,
    Suggestions,
    SuggestQuery,
)
from shop.search.personal import profile_of
from shop.search.ranking import QueryWords
from shop.search.repository import SalesRepository

logger = get_logger("search")
HISTORY_ORDERS = 20  # a shopper's latest orders are their profile
_REINDEX_BATCH = 100


@cache
def _engine(kind: str, location: str) -> SearchEngine:
    if kind == "tantivy":
        from shop.search.tantivy_engine import TantivySearch

        return TantivySearch(location)
    from shop.search.opensearch_engine import OpenSearchSearch

    return OpenSearchSearch(location)


def engine() -> SearchEngine:
    """The configured engine, one per sandbox (an open index is worth keeping warm)."""
    kind = search_engine()
    location = setting("SEARCH_INDEX_DIR" if kind == "tantivy" else "OPENSEARCH_ENDPOINT")
    return _engine(kind, location)


def sales() -> SalesRepository:
    return SalesRepository(product_sales_table())


# ----------------------------------------------------------------------------- documents
def _in_stock(product: Product) -> bool:
    return any_in_stock(v.sku for v in product.variants)


def document_of(product: Product, *, in_stock: bool, orders: int) -> ProductDocument:
    return ProductDocument(
        product_id=product.product_id,
        version=product.version,
        name=product.name,
        description=product.description,
        category=product.category,
        skus=[v.sku for v in product.variants],
        price=min(v.price.amount for v in product.variants),
        currency=product.variants[0].price.currency,
        in_stock=in_stock,
        created_at=product.created_at,
        sales=orders,
        attributes=sorted({a for v in product.variants for a in v.attributes.values()}),
    )


def _refresh(product_ids: Iterable[str]) -> None:
    """Rewrite these products' entries as the tables have them now: an archived or deleted
    product leaves the index."""
    wanted = sorted(set(product_ids))
    if not wanted:
        return
    active: list[Product] = []
    gone: list[str] = []
    for product_id in wanted:
        try:
            product = catalog().get(product_id, consistent=True)
        except ProductNotFound:
            product = None
        if product is None or product.status != "active":
            gone.append(product_id)
        else:
            active.append(product)
    # Sales read strongly: the count this batch just made must be in it.
    engine().apply(list(_documents(active, consistent=True)), gone)


# ----------------------------------------------------------------------------- the indexer
def apply_changes(events: list[DomainEvent[Any]]) -> None:
    """Bring the index up to date with a batch of events, in one write: the products that
    changed (created, updated or archived) and the ones an order bought (their sales and
    stock moved). Each entry is rebuilt from the tables, so a repeated event changes nothing;
    an order is counted once per product by the sales table's own markers."""
    stale: set[str] = set()
    for event in events:
        if isinstance(event.data, ProductChanged):
            if not _indexed_already(event.data):
                stale.add(event.data.product_id)
        elif isinstance(event.data, OrderPlaced):
            stale |= _count_sale(event.data)
    _refresh(stale)


def _indexed_already(change: ProductChanged) -> bool:
    """The index holds this version or a later one (it read the catalog after the change)."""
    indexed = engine().get(change.product_id)
    return indexed is not None and indexed.version >= change.version and change.change != "archived"


def _count_sale(order: OrderPlaced) -> set[str]:
    skus = [line.sku for line in order.lines]
    owners = {record.product_id for record in catalog().get_skus(skus).values()}
    sales().count_order(order.order_id, owners, int(clock.now()))
    return owners


def reindex() -> int:
    """Rebuild the whole index from the catalog, aside, and swap it in; then catch up with
    what changed while it was built (the indexer wrote those changes to the old index): a
    product's version, or its sales (an order placed meanwhile)."""
    built: dict[str, tuple[int, int]] = {}

    def documents() -> Iterator[ProductDocument]:
        for document in _every_document():
            built[document.product_id] = (document.version, document.sales)
            yield document
        faults.checkpoint("reindex_before_swap")  # tests hold the swap here

    indexed = engine().rebuild(documents())
    listed = {product.product_id: product.version for product in catalog().listed()}
    orders = sales().orders_of(listed, consistent=True)
    moved = [p for p, v in listed.items() if built.get(p) != (v, orders.get(p, 0))]
    gone = [p for p in built if p not in listed]
    _refresh(moved + gone)
    logger.info("caught up after the swap", extra={"changed": len(moved), "gone": len(gone)})
    return indexed


def index_new_catalog(
    products: Sequence[Product], *, in_stock: Callable[[Product], bool], orders: Mapping[str, int]
) -> int:
    """Index a catalog about to be loaded in bulk (`seed_products`), from what the loader
    knows, before its events arrive: they then find the index up to date and cost nothing.
    Into an empty index only as a rebuild; into one that holds products, added to them."""
    documents = [
        document_of(p, in_stock=in_stock(p), orders=orders.get(p.product_id, 0))
        for p in products
        if p.status == "active"
    ]
    if engine().count() == 0:
        return engine().rebuild(documents)
    for start in range(0, len(documents), _REINDEX_BATCH * 10):
        engine().put(documents[start : start + _REINDEX_BATCH * 10])
    return len(documents)


def _every_document() -> Iterator[ProductDocument]:
    batch: list[Product] = []
    for product in catalog().listed():
        batch.append(product)
        if len(batch) == _REINDEX_BATCH:
            yield from _documents(batch)
            batch = []
    yield from _documents(batch)


def _documents(products: list[Product], *, consistent: bool = False) -> Iterator[ProductDocument]:
    """The entries of these products as the tables have them (one sales read for all)."""
    counts = sales().orders_of((p.product_id for p in products), consistent=consistent)
    for product in products:
        yield document_of(
            product, in_stock=_in_stock(product), orders=counts.get(product.product_id, 0)
        )


# ----------------------------------------------------------------------------- queries
def shopper_profile(user_id: str) -> ShopperProfile:
    """What the shopper bought in their latest orders (their categories, their products):
    three reads whatever the history (their orders, the SKUs', the products')."""
    placed, _ = orders().page_of_user(user_id, None, HISTORY_ORDERS)
    skus = [line.sku for order in placed if order.status != "CANCELLED" for line in order.lines]
    if not skus:
        return ShopperProfile()
    owners = {sku: record.product_id for sku, record in catalog().get_skus(skus).items()}
    products = catalog().get_many(list(set(owners.values())))
    return profile_of(
        (owners[sku], products[owners[sku]].category)
        for sku in skus
        if sku in owners and owners[sku] in products
    )


def _nothing_to_find(text: str) -> bool:
    """Words were typed, but none the index could hold ("!!!", "日本語"): nothing matches,
    rather than everything."""
    words = QueryWords.parse(text)
    return bool(text.strip()) and not words.words and not words.skus


def search_products(query: SearchQuery, shopper: str | None) -> SearchPage:
    """The engine's answer; when the engine is unavailable (down, slower than its timeout, or
    its circuit open), the degraded one: `degraded_results`."""
    offset = decode_cursor(query)
    if _nothing_to_find(query.q):
        return SearchPage(items=[], facets=facets_of(NO_AGGREGATIONS), total=0, cursor=None)
    profile = shopper_profile(shopper) if shopper else None
    request = SearchRequest(query, offset=offset, profile=profile)
    try:
        page = breakers.call(breakers.SEARCH, lambda: engine().search(request))
    except DependencyUnavailable:
        logger.warning("search engine unavailable: degraded results")
        metrics.count("DegradedAnswer", dependency=breakers.SEARCH.name)
        return degraded_results(query)
    if profile is None:  # the same for everyone: worth keeping for a bad moment
        _last_good.remember(query, page)
    return page


def suggest(query: SuggestQuery) -> Suggestions:
    if not query.q.strip() or _nothing_to_find(query.q):
        return Suggestions(suggestions=[])
    request = SearchRequest(
        SearchQuery(q=query.q, limit=min(query.limit * 2, 40)), facets=False, name_only=True
    )
    try:
        page = breakers.call(breakers.SEARCH, lambda: engine().search(request))
    except DependencyUnavailable:
        metrics.count("DegradedAnswer", dependency=breakers.SEARCH.name)
        return Suggestions(suggestions=[], degraded=True)  # typing goes on; nothing offered
    return Suggestions(suggestions=suggestions(page, query.limit))


# ----------------------------------------------------------------------------- degraded
class _LastGoodResults:
    """The latest anonymous answers, by query, in this instance: what a shopper saw a moment
    ago is a better answer while the engine is out than a category list."""

    MOST = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: OrderedDict[str, SearchPage] = OrderedDict()

    def remember(self, query: SearchQuery, page: SearchPage) -> None:
        with self._lock:
            self._pages[query.model_dump_json()] = page
            self._pages.move_to_end(query.model_dump_json())
            while len(self._pages) > self.MOST:
                self._pages.popitem(last=False)

    def recall(self, query: SearchQuery) -> SearchPage | None:
        with self._lock:
            return self._pages.get(query.model_dump_json())

    def forget(self) -> None:
        with self._lock:
            self._pages.clear()


_last_good = _LastGoodResults()


def degraded_results(query: SearchQuery) -> SearchPage:
    """The last results served for this query; else the category browse: the first page of
    the query's category (or of every listed product) as the catalog lists them, without
    facets or a next page. Marked `degraded` either way."""
    known = _last_good.recall(query)
    if known is not None:
        return known.model_copy(update={"degraded": True})
    products, _ = catalog().page(category=query.category, cursor=None, limit=query.limit)
    hits = [
        SearchHit(
            product_id=product.product_id,
            name=product.name,
            category=product.category,
            price=min((v.price for v in product.variants), key=lambda price: price.amount),
            in_stock=_in_stock(product),
            highlight=escape(product.name),
        )
        for product in products
    ]
    return SearchPage(
        items=hits, facets=facets_of(NO_AGGREGATIONS), total=len(hits), cursor=None, degraded=True
    )
