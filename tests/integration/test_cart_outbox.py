"""The cart's outbox on the local platform: what a signed-in shopper adds reaches the bus as
`CartItemAdded` (one event per addition, with what was added); what a guest adds does not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from event_support import BusObserver

from helpers import Api, product_payload, unique
from shop_local.auth import user_id
from shop_local.platform import LocalPlatform

SCHEMA = Path(__file__).resolve().parents[2] / "events" / "schemas" / "CartItemAdded.json"


class Observer:
    """The cart's events on the bus, kept as they arrive."""

    def __init__(self, bus: BusObserver) -> None:
        self.bus = bus
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> None:
        while envelopes := self.bus.envelopes():
            for envelope in envelopes:
                assert envelope["source"] == "shop.cart"
                assert envelope["detail-type"] == "CartItemAdded"
                self.seen.append(envelope["detail"])

    def of(self, sku: str) -> list[dict[str, Any]]:
        self.drain()
        return [d for d in self.seen if d["data"]["sku"] == sku]

    def wait_for(self, sku: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.of(sku)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} CartItemAdded for {sku} never arrived: {self.seen}")
            time.sleep(0.2)
        return self.of(sku)


@pytest.fixture(scope="module")
def observer(platform: LocalPlatform) -> Iterator[Observer]:
    bus = BusObserver(platform, "cart", {"source": ["shop.cart"], "detail-type": ["CartItemAdded"]})
    yield Observer(bus)
    bus.close()


def new_sku(api: Api) -> tuple[str, str]:
    sku = unique("ADDED").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku]), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    return str(created.json()["product_id"]), sku


def add(api: Api, user: str, sku: str, quantity: int, trace: str) -> None:
    response = api.post(
        "/cart/items",
        json={"sku": sku, "quantity": quantity},
        user=user,
        headers={"X-Correlation-Id": trace},
    )
    assert response.status_code == 200, response.text


def test_each_add_to_a_shoppers_cart_is_published_once_with_what_was_added(
    api: Api, platform: LocalPlatform, observer: Observer
) -> None:
    product_id, sku = new_sku(api)
    shopper = unique("shopper")
    first_trace, second_trace = unique("trace"), unique("trace")

    add(api, shopper, sku, 2, first_trace)
    (first,) = observer.wait_for(sku, 1)
    add(api, shopper, sku, 3, second_trace)  # the same line again: 5 in all, 3 of them added
    _, second = observer.wait_for(sku, 2)
    platform.wait_until_idle(20)
    assert len(observer.of(sku)) == 2  # no more than one event per addition

    schema = json.loads(SCHEMA.read_text())
    for event, added, trace in [(first, 2, first_trace), (second, 3, second_trace)]:
        jsonschema.validate(event, schema)
        assert event["event_type"] == "CartItemAdded"
        assert event["source"] == "cart"
        assert event["correlation_id"] == trace  # the request's, carried by the line
        assert event["data"]["user_id"] == user_id(shopper)
        assert event["data"]["product_id"] == product_id
        assert event["data"]["quantity_added"] == added
        assert event["occurred_at"] == event["data"]["added_at"]
    assert first["event_id"].startswith("CartItemAdded:")
    assert first["event_id"] != second["event_id"]


def test_lowering_or_removing_a_line_publishes_nothing(
    api: Api, platform: LocalPlatform, observer: Observer
) -> None:
    _, sku = new_sku(api)
    shopper = unique("shopper")
    add(api, shopper, sku, 4, unique("trace"))
    observer.wait_for(sku, 1)
    assert api.put(f"/cart/items/{sku}", json={"quantity": 1}, user=shopper).status_code == 200
    assert api.delete(f"/cart/items/{sku}", user=shopper).status_code == 200
    platform.wait_until_idle(20)
    assert [e["data"]["quantity_added"] for e in observer.of(sku)] == [4]


def test_a_guest_carts_adds_are_not_published(
    api: Api, platform: LocalPlatform, observer: Observer
) -> None:
    _, sku = new_sku(api)
    created = api.post("/guest-cart")
    assert created.status_code == 201, created.text
    token = created.json()["cart_token"]
    for quantity in (1, 2):  # a new line, then more of it
        response = api.post(
            "/guest-cart/items",
            json={"sku": sku, "quantity": quantity},
            headers={"X-Cart-Token": token},
        )
        assert response.status_code == 200, response.text
    # A shopper's add after the guest's: once its event is out, the stream is past the guest's.
    shopper = unique("shopper")
    add(api, shopper, sku, 1, unique("trace"))
    (only,) = observer.wait_for(sku, 1)
    platform.wait_until_idle(20)
    assert observer.of(sku) == [only]
    assert only["data"]["user_id"] == user_id(shopper)
