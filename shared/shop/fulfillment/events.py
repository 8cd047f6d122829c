"""Fulfillment's events, published from the fulfillment table's stream (its outbox): each is
derived from the change that made it true, so a state change and its event cannot diverge."""

from __future__ import annotations

from typing import Any

from shop.dynamo import from_item
from shop.events import DomainEvent, EventPayload
from shop.fulfillment.models import Line
from shop.money import Money


class _ShipmentSnapshot(EventPayload):
    source = "fulfillment"

    shipment_id: str
    order_id: str
    user_id: str
    warehouse_id: str
    lines: list[Line]


class ShipmentCreated(_ShipmentSnapshot):
    """A warehouse has a part of an order to pick and pack."""

    event_type = "ShipmentCreated"


class ShipmentDispatched(_ShipmentSnapshot):
    """The parcel is with the carrier: the customer can follow it."""

    event_type = "ShipmentDispatched"

    carrier: str
    tracking_number: str


class ShipmentDelivered(_ShipmentSnapshot):
    """The carrier delivered it: the return window opens."""

    event_type = "ShipmentDelivered"

    carrier: str
    tracking_number: str
    delivered_at: str


class ReturnReceived(EventPayload):
    """Returned units are back in the warehouse; their refund follows."""

    source = "fulfillment"
    event_type = "ReturnReceived"

    return_id: str
    order_id: str
    user_id: str
    lines: list[Line]


class RefundIssued(EventPayload):
    """Money went back to the customer's card for a cancellation or a return."""

    source = "fulfillment"
    event_type = "RefundIssued"

    claim_id: str
    kind: str  # "cancellation" or "return"
    order_id: str
    user_id: str
    amount: Money
    refund_id: str


def _event(payload: EventPayload, key: str, new: dict[str, Any]) -> DomainEvent[Any]:
    return DomainEvent.of(
        payload,
        event_id=f"{payload.event_type}:{key}",
        occurred_at=str(new["updated_at"]),
        correlation_id=str(new.get("correlation_id", "")),
    )


def fulfillment_events(record: dict[str, Any]) -> list[DomainEvent[Any]]:
    change = record.get("dynamodb", {})
    if "NewImage" not in change:
        return []
    new = from_item(change["NewImage"])
    old = from_item(change["OldImage"]) if "OldImage" in change else {}
    kind = str(new.get("sk", "")).split("#", 1)[0]
    events: list[DomainEvent[Any]] = []
    if kind == "SHIPMENT":
        shipment = {f: new[f] for f in _ShipmentSnapshot.model_fields}
        if not old:
            events.append(_event(ShipmentCreated(**shipment), new["shipment_id"], new))
        if old.get("status") == "PACKED" and new["status"] == "SHIPPED":
            dispatched = ShipmentDispatched(
                **shipment, carrier=new["carrier"], tracking_number=new["tracking_number"]
            )
            events.append(_event(dispatched, new["shipment_id"], new))
        if old.get("status") != "DELIVERED" and new["status"] == "DELIVERED":
            delivered = ShipmentDelivered(
                **shipment,
                carrier=new["carrier"],
                tracking_number=new["tracking_number"],
                delivered_at=new["delivered_at"],
            )
            events.append(_event(delivered, new["shipment_id"], new))
    elif kind in ("RETURN", "CANCEL"):
        if kind == "RETURN" and old.get("status") == "REQUESTED" and new["status"] == "RECEIVED":
            received = ReturnReceived(
                return_id=new["return_id"],
                order_id=new["order_id"],
                user_id=new["user_id"],
                lines=new["lines"],
            )
            events.append(_event(received, new["return_id"], new))
        if "refunded_at" in new and "refunded_at" not in old and new["refund"]["amount"] > 0:
            issued = RefundIssued(
                claim_id=new["claim_id"],
                kind=new["kind"],
                order_id=new["order_id"],
                user_id=new["user_id"],
                amount=new["refund"],
                refund_id=str(new.get("refund_id", "")),
            )
            events.append(_event(issued, new["claim_id"], new))
    return events
