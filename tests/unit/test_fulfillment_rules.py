"""Fulfillment's rules without I/O: the order's status from its shipments and returns, what
may still be returned and where it goes back, and the events its outbox derives."""

from __future__ import annotations

from typing import Any

from shop.dynamo import to_item
from shop.fulfillment import rules
from shop.fulfillment.events import fulfillment_events
from shop.fulfillment.models import Line, Return, StoredShipment
from shop.inventory.models import Allocation
from shop.money import Money

AT = "2026-12-01T10:00:00.000Z"
DAY = 24 * 3600
DELIVERED_AT = 1_796_119_200.0  # 2026-12-01T10:00:00Z


def shipment(warehouse: str, status: str, sku: str = "MUG-1", quantity: int = 2) -> StoredShipment:
    return StoredShipment(
        shipment_id=f"ord-1.{warehouse}",
        order_id="ord-1",
        user_id="u-1",
        warehouse_id=warehouse,
        lines=[Line(sku=sku, quantity=quantity)],
        allocations=[Allocation(sku=sku, warehouse_id=warehouse, shard=0, quantity=quantity)],
        status=status,  # type: ignore[arg-type]
        history=[],
        created_at=AT,
        updated_at=AT,
        delivered_at=AT if status == "DELIVERED" else None,
    )


def returned(status: str, quantity: int, sku: str = "MUG-1") -> Return:
    return Return(
        return_id="ord-1.r-1",
        order_id="ord-1",
        lines=[Line(sku=sku, quantity=quantity)],
        reason="too small",
        status=status,  # type: ignore[arg-type]
        refund=Money(amount=0, currency="GBP"),
        history=[],
        created_at=AT,
        updated_at=AT,
    )


def test_the_order_status_follows_its_shipments() -> None:
    status = rules.order_status
    assert status("PLACED", [shipment("a", "PENDING"), shipment("b", "PACKED")], []) == "PLACED"
    assert status("PLACED", [shipment("a", "SHIPPED"), shipment("b", "PACKED")], []) == (
        "PARTIALLY_SHIPPED"
    )
    assert status("PLACED", [shipment("a", "SHIPPED"), shipment("b", "IN_TRANSIT")], []) == (
        "SHIPPED"
    )
    assert status("PLACED", [shipment("a", "DELIVERED"), shipment("b", "IN_TRANSIT")], []) == (
        "SHIPPED"
    )
    assert status("PLACED", [shipment("a", "DELIVERED"), shipment("b", "CANCELLED")], []) == (
        "DELIVERED"
    )
    assert status("PLACED", [shipment("a", "CANCELLED"), shipment("b", "CANCELLED")], []) == (
        "CANCELLED"
    )
    assert status("CANCELLED", [shipment("a", "PENDING")], []) == "CANCELLED"


def test_the_order_status_follows_its_received_returns_only() -> None:
    delivered = [shipment("a", "DELIVERED")]
    assert rules.order_status("DELIVERED", delivered, [returned("REQUESTED", 2)]) == "DELIVERED"
    assert rules.order_status("DELIVERED", delivered, [returned("RECEIVED", 1)]) == (
        "PARTIALLY_RETURNED"
    )
    assert rules.order_status("DELIVERED", delivered, [returned("REFUNDED", 2)]) == "RETURNED"


def test_only_delivered_units_within_the_window_and_not_yet_claimed_are_returnable() -> None:
    shipments = [shipment("a", "DELIVERED"), shipment("b", "SHIPPED", sku="CUP-1")]
    assert rules.returnable(shipments, [], DELIVERED_AT + DAY) == {"MUG-1": 2}
    assert rules.returnable(shipments, [returned("REQUESTED", 1)], DELIVERED_AT) == {"MUG-1": 1}
    assert rules.returnable(shipments, [], DELIVERED_AT + 31 * DAY) == {}


def test_returned_units_go_back_where_they_were_shipped_from_past_earlier_returns() -> None:
    a = shipment("a", "DELIVERED", quantity=1)
    b = shipment("b", "DELIVERED", quantity=2)
    first = rules.return_allocations([Line(sku="MUG-1", quantity=2)], [a, b], [])
    assert [(x.warehouse_id, x.quantity) for x in first] == [("a", 1), ("b", 1)]
    second = rules.return_allocations([Line(sku="MUG-1", quantity=1)], [a, b], [first])
    assert [(x.warehouse_id, x.quantity) for x in second] == [("b", 1)]


def test_allocations_split_by_warehouse_into_shipment_lines() -> None:
    allocations = [
        Allocation(sku="MUG-1", warehouse_id="b", shard=0, quantity=1),
        Allocation(sku="MUG-1", warehouse_id="a", shard=1, quantity=2),
        Allocation(sku="MUG-1", warehouse_id="a", shard=0, quantity=1),
    ]
    grouped = rules.by_warehouse(allocations)
    assert list(grouped) == ["a", "b"]
    assert rules.lines_of(grouped["a"]) == [Line(sku="MUG-1", quantity=3)]


def record(new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {"NewImage": to_item(new)}
    if old is not None:
        change["OldImage"] = to_item(old)
    return {"dynamodb": change}


def shipment_image(status: str, **more: Any) -> dict[str, Any]:
    item = shipment("a", status).model_dump()
    return {"pk": "ORDER#ord-1", "sk": "SHIPMENT#ord-1.a", **item, **more}


def test_the_outbox_announces_each_shipment_change_once() -> None:
    created = fulfillment_events(record(shipment_image("PENDING")))
    assert [e.event_type for e in created] == ["ShipmentCreated"]
    assert created[0].event_id == "ShipmentCreated:ord-1.a"
    tracked = {"carrier": "local", "tracking_number": "LC1"}
    dispatched = fulfillment_events(
        record(shipment_image("SHIPPED", **tracked), shipment_image("PACKED"))
    )
    assert [e.event_type for e in dispatched] == ["ShipmentDispatched"]
    moving = fulfillment_events(
        record(shipment_image("IN_TRANSIT", **tracked), shipment_image("SHIPPED", **tracked))
    )
    assert moving == []
    delivered = fulfillment_events(
        record(
            shipment_image("DELIVERED", delivered_at=AT, **tracked),
            shipment_image("OUT_FOR_DELIVERY", **tracked),
        )
    )
    assert [e.event_type for e in delivered] == ["ShipmentDelivered"]


def claim_image(**more: Any) -> dict[str, Any]:
    return {
        "pk": "ORDER#ord-1",
        "sk": "RETURN#ord-1.r-1",
        "claim_id": "ord-1.r-1",
        "return_id": "ord-1.r-1",
        "kind": "return",
        "order_id": "ord-1",
        "user_id": "u-1",
        "lines": [{"sku": "MUG-1", "quantity": 1}],
        "refund": {"amount": 450, "currency": "GBP"},
        "status": "REQUESTED",
        "updated_at": AT,
        **more,
    }


def test_the_outbox_announces_a_received_return_and_its_refund() -> None:
    received = fulfillment_events(record(claim_image(status="RECEIVED"), claim_image()))
    assert [e.event_type for e in received] == ["ReturnReceived"]
    refunded = fulfillment_events(
        record(
            claim_image(status="RECEIVED", refunded_at=AT, refund_id="re_1"),
            claim_image(status="RECEIVED"),
        )
    )
    assert [(e.event_type, e.event_id) for e in refunded] == [
        ("RefundIssued", "RefundIssued:ord-1.r-1")
    ]
    assert fulfillment_events({"dynamodb": {"OldImage": to_item(claim_image())}}) == []
