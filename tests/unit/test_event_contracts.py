"""Event payloads are the contract between services: the envelope round-trips, consumers refuse
what they do not know, and the JSON Schemas in events/schemas/ are the models' own."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from shop.catalog.events import ProductChanged
from shop.consumers import parse_event
from shop.errors import PoisonEvent
from shop.event_catalog import EVENT_TYPES, event_schema
from shop.events import DomainEvent
from shop.orders.events import OrderCancelled, OrderPlaced
from shop_local.event_schemas import SCHEMAS, expected

ACCEPTED = {p.event_type: p for p in (OrderPlaced, OrderCancelled)}


def placed() -> DomainEvent[OrderPlaced]:
    payload = OrderPlaced.model_validate(
        {
            "order_id": "o-1",
            "checkout_id": "c-1",
            "user_id": "u-1",
            "status": "PLACED",
            "lines": [
                {"sku": "MUG", "quantity": 1, "unit_price": {"amount": 450, "currency": "GBP"}}
            ],
            "total": {"amount": 450, "currency": "GBP"},
            "shipping_address": {
                "name": "Ann",
                "line1": "1 High St",
                "city": "London",
                "postal_code": "N1 1AA",
                "country": "GB",
            },
        }
    )
    return DomainEvent.of(payload, event_id="OrderPlaced:o-1", occurred_at="2026-12-01T10:00:00Z")


def envelope(detail: dict[str, Any], detail_type: str = "OrderPlaced") -> str:
    return json.dumps(
        {"version": "0", "detail-type": detail_type, "source": "shop.orders"} | {"detail": detail}
    )


def test_the_envelope_names_the_payloads_type_source_and_version() -> None:
    event = placed()
    assert (event.event_type, event.source, event.schema_version) == ("OrderPlaced", "orders", 1)


def test_a_published_event_parses_back_into_its_typed_payload() -> None:
    event = placed()
    parsed = parse_event(envelope(event.model_dump(mode="json")), ACCEPTED)
    assert isinstance(parsed.data, OrderPlaced)
    assert parsed == event


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"detail-type": "OrderPlaced"}), "with a detail"),
        (envelope({}, "ProductChanged"), "does not handle"),
        (envelope({**placed().model_dump(mode="json"), "schema_version": 2}), "schema version"),
        (envelope({**placed().model_dump(mode="json"), "event_type": "X"}), "does not match"),
        (envelope({**placed().model_dump(mode="json"), "data": {"order_id": 1}}), "malformed"),
        (envelope({**placed().model_dump(mode="json"), "surprise": 1}), "malformed"),
    ],
)
def test_a_consumer_refuses_what_it_does_not_know_as_poison(body: str, why: str) -> None:
    with pytest.raises(PoisonEvent, match=why):
        parse_event(body, ACCEPTED)


def test_an_order_event_cannot_claim_a_status_it_does_not_have() -> None:
    detail = placed().model_dump(mode="json")
    detail["data"]["status"] = "CANCELLED"
    with pytest.raises(PoisonEvent):
        parse_event(envelope(detail), ACCEPTED)


def test_every_event_type_is_registered_once_with_its_own_name() -> None:
    assert set(EVENT_TYPES) == {
        "ProductChanged",
        "OrderPlaced",
        "OrderCancelled",
        "CartItemAdded",
        "ShipmentCreated",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "ReturnReceived",
        "RefundIssued",
        "FlashSaleEntered",
    }
    assert all(name == payload.event_type for name, payload in EVENT_TYPES.items())
    assert EVENT_TYPES["ProductChanged"] is ProductChanged


def test_the_committed_event_schemas_are_generated_from_the_models() -> None:
    stale = [p.name for p, text in expected().items() if not p.exists() or p.read_text() != text]
    extra = sorted({p.name for p in SCHEMAS.glob("*.json")} - {p.name for p in expected()})
    fix = "run `python -m shop_local.event_schemas`"
    assert not stale, f"events/schemas/ disagrees with the models for {stale}: {fix}"
    assert not extra, f"events/schemas/ has schemas of no model: {extra}: {fix}"


def test_a_real_event_validates_against_its_schema_and_a_wrong_one_does_not() -> None:
    detail = placed().model_dump(mode="json")
    schema = event_schema(OrderPlaced)
    jsonschema.validate(detail, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**detail, "event_type": "OrderCancelled"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**detail, "data": {**detail["data"], "status": "PENDING"}}, schema)
