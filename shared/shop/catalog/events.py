"""`ProductChanged`, published from the catalog table's stream (an outbox: the write and the
event cannot diverge, because the event is derived from the write)."""

from __future__ import annotations

from typing import Any

from shop.dynamo import from_item
from shop.events import DomainEvent


def product_changed(record: dict[str, Any]) -> DomainEvent | None:
    """The event for one stream record, or None when the record is not a product's change."""
    change = record.get("dynamodb", {})
    image = change.get("NewImage") or change.get("OldImage")
    if not image or image.get("sk", {}).get("S") != "PRODUCT":
        return None
    product = from_item(image)
    previous = from_item(change["OldImage"]) if "OldImage" in change else None
    if previous is None:
        kind = "created"
    elif product.get("status") == "archived" and previous.get("status") != "archived":
        kind = "archived"
    else:
        kind = "updated"
    return DomainEvent(
        event_id=f"ProductChanged:{product['product_id']}:{product['version']}",
        event_type="ProductChanged",
        occurred_at=str(product.get("updated_at", "")),
        source="catalog",
        correlation_id=str(product.get("correlation_id", "")),
        data={
            "product_id": product["product_id"],
            "version": product["version"],
            "change": kind,
            "status": product.get("status"),
            "category": product.get("category"),
            "skus": [v["sku"] for v in product.get("variants", [])],
        },
    )
