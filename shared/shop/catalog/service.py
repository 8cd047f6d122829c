"""Catalog rules: creating, replacing and archiving products, and reading them back."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from shop import breakers, metrics
from shop.cache import TtlCache
from shop.catalog.models import (
    ListProductsQuery,
    NewProduct,
    Product,
    ProductPage,
    ProductUpdate,
    SkuRecord,
)
from shop.catalog.repository import CatalogRepository
from shop.clock import iso_now, now
from shop.config import catalog_table, hot_read_cache_seconds
from shop.errors import (
    DependencyUnavailable,
    SkuTaken,
    SkuUnavailable,
    UnknownSku,
    VersionConflict,
)


def repository() -> CatalogRepository:
    return CatalogRepository(catalog_table())


def new_product_id() -> str:
    return f"p-{uuid.uuid4().hex[:20]}"


def _first_version(draft: NewProduct) -> Product:
    now = iso_now()
    return Product(
        **draft.model_dump(exclude={"product_id"}),
        product_id=draft.product_id or new_product_id(),
        version=1,
        created_at=now,
        updated_at=now,
    )


def create_product(draft: NewProduct, *, correlation_id: str = "") -> Product:
    product = _first_version(draft)
    repository().create(product, correlation_id)
    return product


def first_versions(drafts: list[NewProduct]) -> list[Product]:
    """The products a bulk load of `drafts` writes (`seed_products`)."""
    return [_first_version(d) for d in drafts]


def seed_products(products: list[Product], *, correlation_id: str = "") -> int:
    """Load products into an EMPTY catalog in bulk. Refuses SKUs repeated across them, since
    the bulk path has no per-SKU condition to catch them."""
    skus = [v.sku for p in products for v in p.variants]
    if len(skus) != len(set(skus)):
        raise SkuTaken("a SKU appears in more than one product")
    repository().seed(products, correlation_id)
    return len(products)


def seed_catalog(drafts: list[NewProduct], *, correlation_id: str = "") -> int:
    return seed_products(first_versions(drafts), correlation_id=correlation_id)


def update_product(product_id: str, update: ProductUpdate, *, correlation_id: str = "") -> Product:
    repo = repository()
    current = repo.get(product_id, consistent=True)
    if update.version is not None and update.version != current.version:
        raise VersionConflict(
            f"product {product_id} is at version {current.version}, not {update.version}",
            details={"current_version": current.version},
        )
    replaced = Product(
        **update.model_dump(exclude={"version"}),
        product_id=product_id,
        version=current.version + 1,
        created_at=current.created_at,
        updated_at=iso_now(),
    )
    repo.replace(current, replaced, correlation_id)
    return replaced


def archive_product(product_id: str, *, correlation_id: str = "") -> Product:
    """Archive a product: it leaves every listing and its SKUs stop being sellable. Archiving
    an archived product changes nothing (so a repeated DELETE is harmless)."""
    repo = repository()
    current = repo.get(product_id, consistent=True)
    if current.status == "archived":
        return current
    archived = current.model_copy(
        update={"status": "archived", "version": current.version + 1, "updated_at": iso_now()}
    )
    repo.replace(current, archived, correlation_id)
    return archived


def get_skus(skus: list[str]) -> dict[str, SkuRecord]:
    """What the catalog says now about each SKU (missing SKUs are absent from the result):
    the one way other services read prices and sellability."""
    return repository().get_skus(skus)


def sellable_sku(sku: str) -> SkuRecord:
    """The SKU as the catalog says now, if it is sold: else UnknownSku or SkuUnavailable (a
    cart line or a flash sale of it is refused before anything is written)."""
    record = get_skus([sku]).get(sku)
    if record is None:
        raise UnknownSku(f"there is no SKU {sku}")
    if not record.sellable:
        raise SkuUnavailable(f"{sku} is no longer sold")
    return record


@dataclass(frozen=True)
class KnownSkus:
    """SKUs as the catalog says now, or (the catalog unavailable) as it last said."""

    records: dict[str, SkuRecord]
    read_at: float | None = None  # the oldest record's reading (shop.clock); None: just now


_LAST_KNOWN_MOST = 50_000  # SKUs remembered per instance at most (then forgotten at once)
_last_known: dict[str, tuple[float, SkuRecord | None]] = {}
_last_known_lock = threading.Lock()


def get_skus_or_last_known(skus: list[str]) -> KnownSkus:
    """`get_skus` through the catalog's circuit; while the catalog is unavailable, what this
    instance last read of each SKU, with when. DependencyUnavailable if a SKU was never read
    here: nothing is known to show."""
    wanted = sorted(set(skus))
    try:
        records = breakers.call(breakers.CATALOG, lambda: get_skus(wanted))
    except DependencyUnavailable:
        with _last_known_lock:
            known = {sku: _last_known[sku] for sku in wanted if sku in _last_known}
        if len(known) < len(wanted):
            raise
        metrics.count("DegradedAnswer", dependency=breakers.CATALOG.name)
        return KnownSkus(
            records={sku: record for sku, (_, record) in known.items() if record is not None},
            read_at=min(at for at, _ in known.values()),
        )
    moment = now()
    with _last_known_lock:
        if len(_last_known) > _LAST_KNOWN_MOST:
            _last_known.clear()
        _last_known.update((sku, (moment, records.get(sku))) for sku in wanted)
    return KnownSkus(records=records)


_products: TtlCache[str, Product] = TtlCache()


def get_product(product_id: str) -> Product:
    """A product as a page shows it: read at most every HOT_READ_CACHE_SECONDS per function
    instance (a change shows within that, as the page's own Cache-Control allows longer)."""
    return _products.get(product_id, hot_read_cache_seconds(), lambda: repository().get(product_id))


def list_products(query: ListProductsQuery) -> ProductPage:
    items, cursor = repository().page(
        category=query.category, cursor=query.cursor, limit=query.limit
    )
    return ProductPage(items=items, cursor=cursor)
