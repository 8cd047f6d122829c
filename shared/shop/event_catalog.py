"""Every kind of domain event the shop publishes, by event type: the one list that schema
generation (events/schemas/) and the tests read. A new payload model is added here."""

from __future__ import annotations

import json
from typing import Any

from shop.cart.events import CartItemAdded
from shop.catalog.events import ProductChanged
from shop.events import DomainEvent, EventPayload
from shop.flash_sales.events import FlashSaleEntered
from shop.fulfillment.events import (
    RefundIssued,
    ReturnReceived,
    ShipmentCreated,
    ShipmentDelivered,
    ShipmentDispatched,
)
from shop.orders.events import OrderCancelled, OrderPlaced

EVENT_TYPES: dict[str, type[EventPayload]] = {
    payload.event_type: payload
    for payload in (
        ProductChanged,
        OrderPlaced,
        OrderCancelled,
        CartItemAdded,
        ShipmentCreated,
        ShipmentDispatched,
        ShipmentDelivered,
        ReturnReceived,
        RefundIssued,
        FlashSaleEntered,
    )
}


def event_schema(payload: type[EventPayload]) -> dict[str, Any]:
    """The JSON Schema of the `detail` of one kind of event, from its model."""
    schema = DomainEvent[payload].model_json_schema()  # type: ignore[valid-type]
    properties = schema["properties"]
    properties["event_type"] = {"const": payload.event_type}
    properties["schema_version"] = {"const": payload.schema_version}
    properties["source"] = {"const": payload.source}
    properties["event_id"] = {"type": "string", "pattern": f"^{payload.event_type}:"}
    schema["required"] = sorted(properties)  # publishers always send every field
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": payload.event_type,
        "description": (
            f"The `detail` of a {payload.event_type} event on the shop's bus, source "
            f'"shop.{payload.source}" (generated from shop.event_catalog: do not edit).'
        ),
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text(payload: type[EventPayload]) -> str:
    return json.dumps(event_schema(payload), indent=2, sort_keys=True) + "\n"
