"""`OrderPlaced` and `OrderCancelled`, published from the orders table's stream (an outbox)."""

from __future__ import annotations

from typing import Any

from shop.dynamo import from_item
from shop.events import DomainEvent


def order_event(record: dict[str, Any]) -> DomainEvent | None:
    change = record.get("dynamodb", {})
    if "NewImage" not in change:
        return None
    new = from_item(change["NewImage"])
    old = from_item(change["OldImage"]) if "OldImage" in change else {}
    if new.get("status") == old.get("status"):
        return None
    event_type = {"PLACED": "OrderPlaced", "CANCELLED": "OrderCancelled"}.get(new["status"])
    if event_type is None or (event_type == "OrderCancelled" and old.get("status") != "PLACED"):
        return None  # a PENDING order cancelled by the saga was never announced
    return DomainEvent(
        event_id=f"{event_type}:{new['order_id']}",
        event_type=event_type,
        occurred_at=new["updated_at"],
        source="orders",
        correlation_id=str(new.get("correlation_id", "")),
        data={
            "order_id": new["order_id"],
            "checkout_id": new["checkout_id"],
            "user_id": new["user_id"],
            "status": new["status"],
            "lines": new["lines"],
            "total": new["total"],
            "shipping_address": new["shipping_address"],
        },
    )
