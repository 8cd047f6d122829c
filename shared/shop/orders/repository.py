"""Orders in DynamoDB: one item per order, its history a list inside it.

    pk = ORDER#<order_id>   the order; also correlation_id (carried by the stream into events)

UserOrdersIndex (user_id, created_at) lists a user's orders, newest first. The table's stream
is the orders' outbox: OrderPlaced and OrderCancelled are derived from its changes.
"""

from __future__ import annotations

from typing import Any

from shop.dynamo import put_new, query_all, query_page, read_item, update_if
from shop.errors import CursorMismatch
from shop.orders.models import HistoryEntry, Order, ShippingAddress
from shop.pagination import page_cursor, start_key

_USER_INDEX_KEYS = frozenset({"pk", "user_id", "created_at"})


def order_key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}}


class OrdersRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def get(self, order_id: str) -> Order | None:
        item = read_item(self.table_name, order_key(order_id))
        # Order ignores the storage-only attributes (pk, correlation_id).
        return None if item is None else Order.model_validate(item)

    def create(self, order: Order, correlation_id: str) -> bool:
        """Write a new order: False when it exists already (an earlier attempt's)."""
        item = order.model_dump()
        item.update(pk=f"ORDER#{order.order_id}", correlation_id=correlation_id)
        return put_new(self.table_name, item)

    def move(self, order_id: str, seen: str, entry: HistoryEntry) -> Order | None:
        """Move the order from status `seen` to `entry.status`, appending `entry` to its
        history. The order as it is afterwards, whether this move or a concurrent one won;
        None if there is no order."""
        item = update_if(
            self.table_name,
            order_key(order_id),
            "SET #s = :to, updated_at = :now, history = list_append(history, :h)",
            condition="#s = :from",
            names={"#s": "status"},
            values={
                ":to": entry.status,
                ":from": seen,
                ":now": entry.at,
                ":h": [entry.model_dump()],
            },
            current_if_refused=True,
        )
        return None if item is None else Order.model_validate(item)

    def page_of_user(
        self, user_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Order], str | None]:
        """A page of the user's orders, newest first, and the cursor of the next."""
        start = start_key(cursor, keys=_USER_INDEX_KEYS)
        if start is not None and start["user_id"]["S"] != user_id:
            raise CursorMismatch("the cursor belongs to another listing")
        items, last = query_page(
            self.table_name,
            "user_id = :u",
            {":u": user_id},
            index="UserOrdersIndex",
            newest_first=True,
            limit=limit,
            start=start,
        )
        return [Order.model_validate(item) for item in items], page_cursor(last)

    def all_of_user(self, user_id: str) -> list[Order]:
        """Every order of the user, newest first (an export, an erasure)."""
        items = query_all(self.table_name, "user_id = :u", {":u": user_id}, index="UserOrdersIndex")
        orders = [Order.model_validate(item) for item in items]
        return sorted(orders, key=lambda o: o.created_at, reverse=True)

    def erase_address(self, order_id: str, address: ShippingAddress, at: str) -> None:
        """Replace the order's shipping address (an erasure). Only the address and `erased_at`
        change, never the status, so the stream derives no event from it; a repeat writes the
        same address again and keeps the first `erased_at`."""
        update_if(
            self.table_name,
            order_key(order_id),
            "SET shipping_address = :a, erased_at = if_not_exists(erased_at, :at)",
            condition="attribute_exists(pk)",
            values={":a": address.model_dump(), ":at": at},
        )
