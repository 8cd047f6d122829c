"""`ProductChanged`, published from the catalog table's stream (an outbox: the write and the
event cannot diverge, because the event is derived from the write)."""

from __future__ import annotations

from typing import Any, Literal

from shop.dynamo import from_item
from shop.events import DomainEvent, EventPayload


class ProductChanged(EventPayload):
    """A product was created, updated or archived: enough for an index or a cache to decide
    whether to read it again (the event is a notice; the catalog stays the truth)."""

    event_type = "ProductChanged"
    source = "catalog"

    product_id: str
    version: int  # the product's version, which orders its changes
    change: Literal["created", "updated", "archived"]
    status: str | None = None
    category: str | None = None
    skus: list[str]


def product_changed(record: dict[str, Any]) -> list[DomainEvent[ProductChanged]]:
    """The event of one stream record: none when the record is not a product's change."""
    change = record.get("dynamodb", {})
    image = change.get("NewImage") or change.get("OldImage")
    if not image or image.get("sk", {}).get("S") != "PRODUCT":
        return []
    product = from_item(image)
    previous = from_item(change["OldImage"]) if "OldImage" in change else None
    if previous is None:
        kind: Literal["created", "updated", "archived"] = "created"
    elif product.get("status") == "archived" and previous.get("status") != "archived":
        kind = "archived"
    else:
        kind = "updated"
    payload = ProductChanged(
        product_id=product["product_id"],
        version=product["version"],
        change=kind,
        status=product.get("status"),
        category=product.get("category"),
        skus=[v["sku"] for v in product.get("variants", [])],
    )
    return [
        DomainEvent.of(
            payload,
            event_id=f"ProductChanged:{product['product_id']}:{product['version']}",
            occurred_at=str(product.get("updated_at", "")),
            correlation_id=str(product.get("correlation_id", "")),
        )
    ]
