"""`OrderPlaced` and `OrderCancelled`, published from the orders table's stream (an outbox)."""

from __future__ import annotations

from typing import Any, Literal

from shop.dynamo import from_item
from shop.events import DomainEvent, EventPayload
from shop.money import Money
from shop.orders.models import OrderLine, ShippingAddress


class _OrderSnapshot(EventPayload):
    """What an order event carries: the order as it stood when its status changed."""

    source = "orders"

    order_id: str
    checkout_id: str
    user_id: str
    lines: list[OrderLine]
    total: Money
    shipping_address: ShippingAddress


class OrderPlaced(_OrderSnapshot):
    """Paid for and committed: fulfillment, notifications and recommendations start here."""

    event_type = "OrderPlaced"

    status: Literal["PLACED"]


class OrderCancelled(_OrderSnapshot):
    """A placed order was cancelled (a PENDING order the saga cancels was never announced)."""

    event_type = "OrderCancelled"

    status: Literal["CANCELLED"]


_ANNOUNCED: dict[str, type[_OrderSnapshot]] = {"PLACED": OrderPlaced, "CANCELLED": OrderCancelled}


def order_events(record: dict[str, Any]) -> list[DomainEvent[_OrderSnapshot]]:
    change = record.get("dynamodb", {})
    if "NewImage" not in change:
        return []
    new = from_item(change["NewImage"])
    old = from_item(change["OldImage"]) if "OldImage" in change else {}
    if new.get("status") == old.get("status"):
        return []
    kind = _ANNOUNCED.get(new["status"])
    if kind is None or (kind is OrderCancelled and old.get("status") != "PLACED"):
        return []
    payload = kind.model_validate({field: new[field] for field in kind.model_fields})
    return [
        DomainEvent.of(
            payload,
            event_id=f"{kind.event_type}:{new['order_id']}",
            occurred_at=new["updated_at"],
            correlation_id=str(new.get("correlation_id", "")),
        )
    ]
