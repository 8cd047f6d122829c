"""Products in DynamoDB: one table, two kinds of item.

    pk = PRODUCT#<id>  sk = PRODUCT   the product, its variants nested
    pk = SKU#<sku>     sk = SKU       one per variant: makes SKUs unique across products and
                                      lets other services resolve a SKU with one GetItem

Active products also carry `listed` and `listed_category`: the keys of two sparse indexes
(ListedIndex, CategoryIndex), so that archiving a product takes it out of every listing by
removing two attributes, and a page of a listing is one Query with no filter.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shop import aws
from shop.catalog.models import Product, SkuRecord
from shop.dynamo import cancellation_codes, error_code, from_item, to_item
from shop.errors import Conflict, NotFound
from shop.pagination import decode_cursor, encode_cursor

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
        self.client = aws.client("dynamodb")

    def get(self, product_id: str, *, consistent: bool = False) -> Product:
        response = self.client.get_item(
            TableName=self.table_name, Key=product_key(product_id), ConsistentRead=consistent
        )
        if "Item" not in response:
            raise NotFound(f"no product {product_id}", code="PRODUCT_NOT_FOUND")
        return _product(from_item(response["Item"]))

    def get_skus(self, skus: list[str]) -> dict[str, SkuRecord]:
        found: dict[str, SkuRecord] = {}
        wanted = sorted(set(skus))
        for start in range(0, len(wanted), 100):  # BatchGetItem's limit
            pending: dict[str, Any] = {
                self.table_name: {"Keys": [sku_key(s) for s in wanted[start : start + 100]]}
            }
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    data = from_item(item)
                    found[data["sku"]] = SkuRecord.model_validate(data)
                pending = response.get("UnprocessedKeys") or {}
        return found

    def page(
        self, *, category: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Product], str | None]:
        if category is None:
            index, condition, values = "ListedIndex", "listed = :v", {":v": {"S": LISTED}}
            start = decode_cursor(cursor, expected_keys=_LISTED_KEYS)
        else:
            index, condition = "CategoryIndex", "listed_category = :v"
            values = {":v": {"S": category}}
            start = decode_cursor(cursor, expected_keys=_CATEGORY_KEYS)
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
        }
        if start:
            query["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        response = self.client.query(**query)
        items = [_product(from_item(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_cursor({k: v["S"] for k, v in last.items()} if last else None)

    def create(self, product: Product, correlation_id: str) -> None:
        writes = [_put_product(product, correlation_id, "attribute_not_exists(pk)")]
        writes += [
            _put_sku(product, i, "attribute_not_exists(pk)") for i in range(len(product.variants))
        ]
        self._transact(writes, product)

    def seed(self, products: list[Product], correlation_id: str) -> None:
        """First load of an empty catalog (demo data, an import), in batches of 25 writes.
        No conditions: the caller guarantees ids and SKUs are new and distinct."""
        items = []
        for product in products:
            items.append(_put_product(product, correlation_id, "")["Put"]["Item"])
            items += [_put_sku(product, i, "")["Put"]["Item"] for i in range(len(product.variants))]
        for start in range(0, len(items), 25):
            batch = items[start : start + 25]
            pending = {self.table_name: [{"PutRequest": {"Item": item}} for item in batch]}
            while pending:
                pending = (
                    self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                )

    def replace(self, before: Product, after: Product, correlation_id: str) -> None:
        """Write `after` over `before`, if nobody changed the product in between."""
        owned = {":id": {"S": before.product_id}}
        writes = [
            _put_product(after, correlation_id, "version = :v", {":v": {"N": str(before.version)}})
        ]
        old_skus = {v.sku for v in before.variants}
        for i, variant in enumerate(after.variants):
            if variant.sku in old_skus:
                writes.append(_put_sku(after, i, "product_id = :id", owned))
            else:
                writes.append(_put_sku(after, i, "attribute_not_exists(pk)"))
        for sku in sorted(old_skus - {v.sku for v in after.variants}):
            writes.append(
                {
                    "Delete": {
                        "Key": sku_key(sku),
                        "ConditionExpression": "product_id = :id",
                        "ExpressionAttributeValues": owned,
                    }
                }
            )
        self._transact(writes, after)

    def _transact(self, writes: list[dict[str, Any]], product: Product) -> None:
        for write in writes:
            next(iter(write.values()))["TableName"] = self.table_name
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise Conflict(
                    f"product {product.product_id} exists or was changed meanwhile",
                    code="PRODUCT_CONFLICT",
                ) from None
            taken = [
                product.variants[i - 1].sku
                for i, code in enumerate(codes)
                if code == "ConditionalCheckFailed" and 1 <= i <= len(product.variants)
            ]
            if taken:
                raise Conflict(
                    "a SKU belongs to another product",
                    code="SKU_TAKEN",
                    details={"skus": taken},
                ) from None
            raise


def _product(data: dict[str, Any]) -> Product:
    fields = {k: v for k, v in data.items() if k in Product.model_fields}
    return Product.model_validate(fields)


def _put_product(
    product: Product,
    correlation_id: str,
    condition: str,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item = product.model_dump()
    item["pk"] = f"PRODUCT#{product.product_id}"
    item["sk"] = "PRODUCT"
    item["correlation_id"] = correlation_id  # carried by the stream into ProductChanged
    if product.status == "active":
        item["listed"] = LISTED
        item["listed_category"] = product.category
    put: dict[str, Any] = {"Item": to_item(item)}
    if condition:
        put["ConditionExpression"] = condition
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}


def _put_sku(
    product: Product, index: int, condition: str, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    variant = product.variants[index]
    item = {
        "pk": f"SKU#{variant.sku}",
        "sk": "SKU",
        "sku": variant.sku,
        "product_id": product.product_id,
        "name": product.name,
        "status": product.status,
        "attributes": variant.attributes,
        "price": variant.price.model_dump(),
    }
    put: dict[str, Any] = {"Item": to_item(item)}
    if condition:
        put["ConditionExpression"] = condition
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}
