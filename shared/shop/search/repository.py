"""The search service's own table: how many orders bought each product.

Sales are the one input of ranking that the catalog does not hold, so they are kept here, not
only in the index: a full reindex reads them back. Each order is counted once per product
however often its event arrives or its consumer crashes: the count and a marker of the order
change in one transaction, and the marker's condition refuses a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shop.dynamo import (
    TRANSACTION_ITEM_LIMIT,
    batch_get,
    batch_write,
    put_write,
    transact,
    update_write,
)
from shop.errors import Throttled

_TOTAL = "TOTAL"
_MARKER_DAYS = 30  # long past any redelivery; DynamoDB's TTL removes the markers
_MAX_PRODUCTS_PER_TRANSACTION = TRANSACTION_ITEM_LIMIT // 2  # two writes each


def _total_key(product_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": _TOTAL}}


class SalesRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def orders_of(self, product_ids: Iterable[str], *, consistent: bool = False) -> dict[str, int]:
        keys = [_total_key(p) for p in sorted(set(product_ids))]
        return {
            str(item["product_id"]): int(item["orders"])
            for item in batch_get(self.table_name, keys, consistent=consistent)
        }

    def count_order(self, order_id: str, product_ids: Iterable[str], now: int) -> bool:
        """Count one order for each product: False when it was counted before."""
        products = sorted(set(product_ids))
        counted = False
        for start in range(0, len(products), _MAX_PRODUCTS_PER_TRANSACTION):
            writes: list[dict[str, Any]] = []
            for product_id in products[start : start + _MAX_PRODUCTS_PER_TRANSACTION]:
                writes.append(
                    put_write(
                        {
                            "pk": f"PRODUCT#{product_id}",
                            "sk": f"ORDER#{order_id}",
                            "expires_at": now + _MARKER_DAYS * 86400,
                        },
                        condition="attribute_not_exists(pk)",
                    )
                )
                writes.append(
                    update_write(
                        _total_key(product_id),
                        "SET product_id = :p ADD orders :one",
                        values={":p": product_id, ":one": 1},
                    )
                )
            refused = transact(writes, table=self.table_name)
            if refused is None:
                counted = True
            elif "ConditionalCheckFailed" not in refused:
                # Another write on these counters in flight: the queue redelivers.
                raise Throttled(f"counting order {order_id} collided with another; retry")
        return counted

    def seed(self, orders: Mapping[str, int]) -> int:
        """Set the counts of a shop's history (the demo's shipped transactions)."""
        return batch_write(
            self.table_name,
            (
                {"pk": f"PRODUCT#{p}", "sk": _TOTAL, "product_id": p, "orders": n}
                for p, n in orders.items()
            ),
        )
