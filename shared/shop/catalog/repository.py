"""Products in DynamoDB: one table, two kinds of item.

    pk = PRODUCT#<id>  sk = PRODUCT   the product, its variants nested
    pk = SKU#<sku>     sk = SKU       one per variant: makes SKUs unique across products and
                                      lets other services resolve a SKU with one GetItem

Active products also carry `listed` and `listed_category`: the keys of two sparse indexes
(ListedIndex, CategoryIndex), so that archiving a product takes it out of every listing by
removing two attributes, and a page of a listing is one Query with no filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shop.catalog.models import Product, SkuRecord
from shop.dynamo import (
    batch_get,
    batch_write,
    delete_write,
    put_write,
    query_all,
    query_page,
    read_item,
    transact,
)
from shop.errors import ProductConflict, ProductNotFound, SkuTaken, Throttled
from shop.pagination import page_cursor, start_key

LISTED = "ACTIVE"
_LISTED_KEYS = frozenset({"pk", "sk", "product_id", "listed"})
_CATEGORY_KEYS = frozenset({"pk", "sk", "product_id", "listed_category"})


def product_key(product_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": "PRODUCT"}}


def sku_key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"SKU#{sku}"}, "sk": {"S": "SKU"}}


class CatalogRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def get(self, product_id: str, *, consistent: bool = False) -> Product:
        item = read_item(self.table_name, product_key(product_id), consistent=consistent)
        if item is None:
            raise ProductNotFound(f"no product {product_id}")
        return _product(item)

    def get_many(self, product_ids: list[str]) -> dict[str, Product]:
        """The products of these ids that exist, by id (one request per 100)."""
        items = batch_get(self.table_name, [product_key(p) for p in sorted(set(product_ids))])
        return {item["product_id"]: _product(item) for item in items}

    def get_skus(self, skus: list[str]) -> dict[str, SkuRecord]:
        items = batch_get(self.table_name, [sku_key(s) for s in sorted(set(skus))])
        return {item["sku"]: SkuRecord.model_validate(item) for item in items}

    def page(
        self, *, category: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Product], str | None]:
        if category is None:
            index, condition, value, keys = "ListedIndex", "listed = :v", LISTED, _LISTED_KEYS
        else:
            index, condition, value = "CategoryIndex", "listed_category = :v", category
            keys = _CATEGORY_KEYS
        items, last = query_page(
            self.table_name,
            condition,
            {":v": value},
            index=index,
            limit=limit,
            start=start_key(cursor, keys=keys),
        )
        return [_product(item) for item in items], page_cursor(last)

    def listed(self) -> Iterator[Product]:
        """Every active product, page after page (a full reindex reads them all)."""
        for item in query_all(self.table_name, "listed = :v", {":v": LISTED}, index="ListedIndex"):
            yield _product(item)

    def create(self, product: Product, correlation_id: str) -> None:
        new = "attribute_not_exists(pk)"
        writes = [put_write(_product_item(product, correlation_id), condition=new)]
        writes += [
            put_write(_sku_item(product, i), condition=new) for i in range(len(product.variants))
        ]
        self._transact(writes, product)

    def seed(self, products: list[Product], correlation_id: str) -> None:
        """First load of an empty catalog (demo data, an import), in batches of 25 writes.
        No conditions: the caller guarantees ids and SKUs are new and distinct."""
        items = []
        for product in products:
            items.append(_product_item(product, correlation_id))
            items += [_sku_item(product, i) for i in range(len(product.variants))]
        batch_write(self.table_name, items)

    def replace(self, before: Product, after: Product, correlation_id: str) -> None:
        """Write `after` over `before`, if nobody changed the product in between."""
        owned = {":id": before.product_id}
        writes = [
            put_write(
                _product_item(after, correlation_id),
                condition="version = :v",
                values={":v": before.version},
            )
        ]
        old_skus = {v.sku for v in before.variants}
        for i, variant in enumerate(after.variants):
            if variant.sku in old_skus:
                writes.append(
                    put_write(_sku_item(after, i), condition="product_id = :id", values=owned)
                )
            else:
                writes.append(put_write(_sku_item(after, i), condition="attribute_not_exists(pk)"))
        for sku in sorted(old_skus - {v.sku for v in after.variants}):
            writes.append(delete_write(sku_key(sku), condition="product_id = :id", values=owned))
        self._transact(writes, after)

    def _transact(self, writes: list[dict[str, Any]], product: Product) -> None:
        codes = transact(writes, table=self.table_name)
        if codes is None:
            return
        if codes and codes[0] == "ConditionalCheckFailed":
            raise ProductConflict(f"product {product.product_id} exists or was changed meanwhile")
        taken = [
            product.variants[i - 1].sku
            for i, code in enumerate(codes)
            if code == "ConditionalCheckFailed" and 1 <= i <= len(product.variants)
        ]
        if taken:
            raise SkuTaken("a SKU belongs to another product", details={"skus": taken})
        # A transaction conflict (another write in flight on these items): the caller retries.
        raise Throttled(f"product {product.product_id} is changing too fast; retry")


def _product(data: dict[str, Any]) -> Product:
    fields = {k: v for k, v in data.items() if k in Product.model_fields}
    return Product.model_validate(fields)


def _product_item(product: Product, correlation_id: str) -> dict[str, Any]:
    item = product.model_dump()
    item["pk"] = f"PRODUCT#{product.product_id}"
    item["sk"] = "PRODUCT"
    item["correlation_id"] = correlation_id  # carried by the stream into ProductChanged
    if product.status == "active":
        item["listed"] = LISTED
        item["listed_category"] = product.category
    return item


def _sku_item(product: Product, index: int) -> dict[str, Any]:
    variant = product.variants[index]
    return {
        "pk": f"SKU#{variant.sku}",
        "sk": "SKU",
        "sku": variant.sku,
        "product_id": product.product_id,
        "name": product.name,
        "status": product.status,
        "attributes": variant.attributes,
        "price": variant.price.model_dump(),
    }
