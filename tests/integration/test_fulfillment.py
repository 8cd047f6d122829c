"""Fulfillment against the local platform: shipments planned from the reservation, packed and
shipped by the warehouse, tracked by the carrier's webhooks, cancelled and returned by the
customer; each scenario ends with units, money and statuses checked."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from event_support import BusObserver
from fulfillment_support import (
    PRICE,
    admin_post,
    all_delivered,
    assert_fulfillment_invariants,
    cancel,
    moved_clock,
    on_hand,
    pack_and_ship,
    place_order,
    settled,
    statuses,
    stock,
    wait_for_order,
)

from helpers import Api, assert_error, unique
from shop.clock import now
from shop_local.platform import LOCAL_SECRETS, LocalPlatform


@pytest.fixture
def carrier(platform: LocalPlatform) -> Iterator[Any]:
    """The platform's carrier, delivering in a second or two instead of hours, well behaved
    unless a test says otherwise."""
    platform.carrier.configure(hop_seconds=0.3, duplicate_rate=0.0, reorder_rate=0.0)
    yield platform.carrier
    platform.carrier.configure(hop_seconds=30.0, duplicate_rate=0.1, reorder_rate=0.1)


def two_warehouse_order(api: Api, user: str) -> tuple[dict[str, Any], dict[str, int], str, str]:
    north = stock(api, {"wh-north": 5})
    south = stock(api, {"wh-south": 5})
    order = place_order(api, user, {north: 1, south: 2})
    return order, {north: 5, south: 5}, north, south


def shipment_in(order: dict[str, Any], warehouse: str) -> dict[str, Any]:
    return next(s for s in order["shipments"] if s["warehouse_id"] == warehouse)


# ------------------------------------------------------------------------------ shipping
def test_an_order_across_two_warehouses_ships_in_two_parts_tracked_to_delivered(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    user = unique("ff-buyer")
    with BusObserver(platform, "shipments", {"source": ["shop.fulfillment"]}) as bus:
        order, before, north, south = two_warehouse_order(api, user)
        assert statuses(order) == {"wh-north": "PENDING", "wh-south": "PENDING"}
        assert {s["warehouse_id"]: s["lines"] for s in order["shipments"]} == {
            "wh-north": [{"sku": north, "quantity": 1}],
            "wh-south": [{"sku": south, "quantity": 2}],
        }
        assert order["status"] == "PLACED"

        queue = api.get(
            "/admin/shipments?warehouse_id=wh-north&status=PENDING", user="lead", admin=True
        )
        assert queue.status_code == 200, queue.text
        assert shipment_in(order, "wh-north")["shipment_id"] in [
            s["shipment_id"] for s in queue.json()["items"]
        ]

        first = pack_and_ship(api, shipment_in(order, "wh-north")["shipment_id"])
        assert first["status"] == "SHIPPED"
        assert first["carrier"] == "local"
        assert first["tracking_number"]
        order = wait_for_order(api, user, order["order_id"], lambda o: True)
        assert order["status"] in ("PARTIALLY_SHIPPED",)

        pack_and_ship(api, shipment_in(order, "wh-south")["shipment_id"])
        order = wait_for_order(api, user, order["order_id"], all_delivered)
        assert order["status"] == "DELIVERED"
        # The history records each change a moment after the change itself.
        order = wait_for_order(
            api, user, order["order_id"], lambda o: o["history"][-1]["status"] == "DELIVERED"
        )
        for shipment in order["shipments"]:
            assert [h["status"] for h in shipment["history"]] == [
                "PENDING",
                "PACKED",
                "SHIPPED",
                "IN_TRANSIT",
                "OUT_FOR_DELIVERY",
                "DELIVERED",
            ]
        order_statuses = [h["status"] for h in order["history"]]
        assert order_statuses[:2] == ["PENDING", "PLACED"]
        assert order_statuses[-2:] == ["SHIPPED", "DELIVERED"]
        assert "PARTIALLY_SHIPPED" in order_statuses
        assert_fulfillment_invariants(platform, order, before)

        platform.wait_until_idle(20)
        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + 10
        while len(seen) < 6 and time.monotonic() < deadline:
            for envelope in bus.envelopes(wait_seconds=1):
                if envelope["detail"]["data"].get("order_id") == order["order_id"]:
                    seen.append((envelope["detail-type"], envelope["detail"]["event_id"]))
        kinds = sorted(kind for kind, _ in seen)
        assert kinds == sorted(["ShipmentCreated", "ShipmentDispatched", "ShipmentDelivered"] * 2)


def test_the_warehouse_cannot_ship_what_it_has_not_packed_nor_pack_twice_into_trouble(
    api: Api, carrier: Any
) -> None:
    user = unique("ff-buyer")
    order = place_order(api, user, {stock(api, {"wh-north": 3}): 1})
    shipment_id = order["shipments"][0]["shipment_id"]
    assert_error(admin_post(api, f"/admin/shipments/{shipment_id}/ship"), 409, "SHIPMENT_STATE")
    assert admin_post(api, f"/admin/shipments/{shipment_id}/pack").status_code == 200
    again = admin_post(api, f"/admin/shipments/{shipment_id}/pack")
    assert again.status_code == 200
    assert again.json()["status"] == "PACKED"
    assert_error(
        admin_post(api, f"/admin/shipments/{shipment_id}/ship", {"carrier": "pigeon"}),
        404,
        "CARRIER_NOT_FOUND",
    )
    shipped = admin_post(api, f"/admin/shipments/{shipment_id}/ship")
    assert shipped.status_code == 200, shipped.text
    repeat = admin_post(api, f"/admin/shipments/{shipment_id}/ship")
    assert repeat.json()["tracking_number"] == shipped.json()["tracking_number"]
    assert_error(api.post(f"/admin/shipments/{shipment_id}/pack", user=user), 403, "FORBIDDEN")
    assert_error(admin_post(api, "/admin/shipments/not-a-shipment/pack"), 422)
    assert_error(
        admin_post(api, f"/admin/shipments/{order['order_id']}.wh-nowhere/pack"),
        404,
        "SHIPMENT_NOT_FOUND",
    )
    assert_error(api.get("/admin/shipments", user="lead", admin=True), 422)


# ------------------------------------------------------------------------------ tracking
def signed(body: dict[str, Any], secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    stamp = str(int(now()))
    key = (secret or LOCAL_SECRETS["CARRIER_WEBHOOK_SECRET_PARAMETER"]).encode()
    mac = hmac.new(key, f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Carrier-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def tracking_event(tracking: str, status: str) -> dict[str, Any]:
    return {
        "id": f"evt_{tracking}_{status}",
        "type": "tracker.updated",
        "tracking_number": tracking,
        "status": status,
        "occurred_at": "2026-12-01T10:00:00.000Z",
        "detail": "",
    }


def test_duplicate_and_late_webhooks_racing_the_next_one_change_nothing(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    carrier.configure(hop_seconds=3600.0)  # this test plays the carrier itself
    user = unique("ff-buyer")
    sku = stock(api, {"wh-north": 3})
    order = place_order(api, user, {sku: 1})
    shipped = pack_and_ship(api, order["shipments"][0]["shipment_id"])
    tracking = shipped["tracking_number"]
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def post(status: str) -> None:
        raw, headers = signed(tracking_event(tracking, status))
        response = api.post("/carriers/local/webhook", data=raw, headers=headers)
        assert response.status_code == 200, response.text
        with lock:
            answers.append(response.json())

    # Five copies of in_transit race five of out_for_delivery, then a late in_transit.
    threads = [
        threading.Thread(target=post, args=(status,))
        for status in ["in_transit", "out_for_delivery"] * 5
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    post("in_transit")
    order = wait_for_order(api, user, order["order_id"], lambda o: True)
    (shipment,) = order["shipments"]
    assert shipment["status"] == "OUT_FOR_DELIVERY"
    history = [h["status"] for h in shipment["history"]]
    assert history.count("OUT_FOR_DELIVERY") == 1
    assert history.count("IN_TRANSIT") <= 1
    assert sum(a["applied"] for a in answers) == len(
        set(history) - {"PENDING", "PACKED", "SHIPPED"}
    )

    # A failed attempt, then the carrier's redelivery: delivered after all.
    post("failure")
    post("delivered")
    post("failure")  # late: changes nothing
    order = wait_for_order(api, user, order["order_id"], lambda o: True)
    assert order["shipments"][0]["status"] == "DELIVERED"
    assert order["status"] == "DELIVERED"

    raw, headers = signed(tracking_event(tracking, "delivered"), secret="not-the-secret")
    assert_error(api.post("/carriers/local/webhook", data=raw, headers=headers), 400)
    raw, headers = signed(tracking_event("LC000000000000", "delivered"))
    assert api.post("/carriers/local/webhook", data=raw, headers=headers).status_code == 404
    assert_fulfillment_invariants(platform, order, {sku: 3})


def test_a_misbehaving_carrier_still_leaves_every_parcel_delivered_once(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    carrier.configure(duplicate_rate=1.0, reorder_rate=1.0)
    user = unique("ff-buyer")
    order, before, _, _ = two_warehouse_order(api, user)
    for shipment in order["shipments"]:
        pack_and_ship(api, shipment["shipment_id"])
    order = wait_for_order(api, user, order["order_id"], all_delivered)
    for shipment in order["shipments"]:
        history = [h["status"] for h in shipment["history"]]
        assert history[-1] == "DELIVERED"
        assert history.count("DELIVERED") == 1
    assert order["status"] == "DELIVERED"
    assert_fulfillment_invariants(platform, order, before)


# ------------------------------------------------------------------------------ cancelling
def test_cancelling_before_shipping_refunds_and_restocks_everything_once(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    user = unique("ff-buyer")
    with BusObserver(
        platform, "cancelled", {"detail-type": ["OrderCancelled", "RefundIssued"]}
    ) as bus:
        order, before, north, south = two_warehouse_order(api, user)
        key = unique("cancel")
        first = cancel(api, user, order["order_id"], key)
        assert first.status_code == 202, first.text
        accepted = first.json()
        assert accepted["refund"] == {"amount": 3 * PRICE, "currency": "GBP"}
        assert accepted["already_shipped"] == []
        again = cancel(api, user, order["order_id"], key)
        assert again.json()["cancellation_id"] == accepted["cancellation_id"]
        reused = cancel(api, user, order["order_id"], key, reason="another reason")
        assert_error(reused, 422, "IDEMPOTENCY_KEY_REUSED")

        order = wait_for_order(api, user, order["order_id"], lambda o: o["status"] == "CANCELLED")
        order = wait_for_order(api, user, order["order_id"], settled)
        assert order["cancellations"][0]["status"] == "REFUNDED"
        assert statuses(order) == {"wh-north": "CANCELLED", "wh-south": "CANCELLED"}
        assert on_hand(north) == 5
        assert on_hand(south) == 5
        assert_fulfillment_invariants(platform, order, before)
        # Cancelling a cancelled order again (another key) answers what cancelled it.
        later = cancel(api, user, order["order_id"])
        assert later.status_code == 202
        assert later.json()["cancellation_id"] == accepted["cancellation_id"]

        platform.wait_until_idle(20)
        kinds: list[str] = []
        deadline = time.monotonic() + 10
        while len(kinds) < 2 and time.monotonic() < deadline:
            kinds += [
                e["detail-type"]
                for e in bus.envelopes(wait_seconds=1)
                if e["detail"]["data"]["order_id"] == order["order_id"]
            ]
        assert sorted(kinds) == ["OrderCancelled", "RefundIssued"]
    assert_error(cancel(api, unique("stranger"), order["order_id"]), 404, "ORDER_NOT_FOUND")


def test_cancelling_after_one_part_shipped_cancels_only_the_rest(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    user = unique("ff-buyer")
    order, before, north, south = two_warehouse_order(api, user)
    pack_and_ship(api, shipment_in(order, "wh-north")["shipment_id"])
    response = cancel(api, user, order["order_id"])
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["lines"] == [{"sku": south, "quantity": 2}]
    assert accepted["refund"]["amount"] == 2 * PRICE
    assert accepted["already_shipped"] == [shipment_in(order, "wh-north")["shipment_id"]]
    order = wait_for_order(api, user, order["order_id"], lambda o: all_delivered(o) and settled(o))
    assert order["status"] == "DELIVERED"
    assert on_hand(south) == 5
    assert on_hand(north) == 4
    assert_fulfillment_invariants(platform, order, before)


def test_an_order_that_has_all_shipped_cannot_be_cancelled(api: Api, carrier: Any) -> None:
    carrier.configure(hop_seconds=3600.0)
    user = unique("ff-buyer")
    order = place_order(api, user, {stock(api, {"wh-north": 2}): 1})
    pack_and_ship(api, order["shipments"][0]["shipment_id"])
    assert_error(cancel(api, user, order["order_id"]), 409, "ALREADY_SHIPPED")
    assert_error(
        api.post(f"/orders/{order['order_id']}/cancel", json={}, user=user), 400, "BAD_REQUEST"
    )


def race_cancel_against_ship(api: Api, platform: LocalPlatform) -> None:
    user = unique("ff-buyer")
    sku = stock(api, {"wh-north": 2})
    order = place_order(api, user, {sku: 1})
    shipment_id = order["shipments"][0]["shipment_id"]
    assert admin_post(api, f"/admin/shipments/{shipment_id}/pack").status_code == 200
    results: dict[str, Any] = {}
    go = threading.Barrier(2)

    def ship() -> None:
        go.wait()
        results["ship"] = admin_post(api, f"/admin/shipments/{shipment_id}/ship")

    def stop() -> None:
        go.wait()
        results["cancel"] = cancel(api, user, order["order_id"])

    threads = [threading.Thread(target=ship), threading.Thread(target=stop)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shipped, cancelled = results["ship"].status_code, results["cancel"].status_code
    assert sorted([shipped, cancelled]) in ([200, 409], [202, 409]), (shipped, cancelled)
    order = wait_for_order(api, user, order["order_id"], settled)
    (shipment,) = order["shipments"]
    if shipped == 200:
        assert shipment["status"] == "SHIPPED"
        assert not order["cancellations"]
        assert results["cancel"].json()["error"]["code"] == "ALREADY_SHIPPED"
    else:
        assert shipment["status"] == "CANCELLED"
        assert shipment["tracking_number"] is None
        assert results["ship"].json()["error"]["code"] == "SHIPMENT_STATE"
    assert_fulfillment_invariants(platform, order, {sku: 2})


def test_cancel_racing_ship_exactly_one_wins(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    carrier.configure(hop_seconds=3600.0)
    for _ in range(8):
        race_cancel_against_ship(api, platform)


# ------------------------------------------------------------------------------ returns
def delivered_order(api: Api, user: str, quantity: int = 2) -> tuple[dict[str, Any], str]:
    sku = stock(api, {"wh-north": 5})
    order = place_order(api, user, {sku: quantity})
    pack_and_ship(api, order["shipments"][0]["shipment_id"])
    return wait_for_order(api, user, order["order_id"], all_delivered), sku


def ask_return(api: Api, user: str, order_id: str, sku: str, quantity: int) -> Any:
    return api.post(
        f"/orders/{order_id}/returns",
        json={"lines": [{"sku": sku, "quantity": quantity}], "reason": "too small"},
        user=user,
    )


def test_a_received_return_refunds_and_restocks_its_lines(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    user = unique("ff-buyer")
    order, sku = delivered_order(api, user)
    assert on_hand(sku) == 3
    first = ask_return(api, user, order["order_id"], sku, 1)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "REQUESTED"
    assert first.json()["refund"] == {"amount": PRICE, "currency": "GBP"}
    received = admin_post(api, f"/admin/returns/{first.json()['return_id']}/receive")
    assert received.status_code == 202, received.text
    order = wait_for_order(api, user, order["order_id"], settled)
    assert order["status"] == "PARTIALLY_RETURNED"
    assert on_hand(sku) == 4
    assert_fulfillment_invariants(platform, order, {sku: 5})

    rest = ask_return(api, user, order["order_id"], sku, 1)
    assert rest.status_code == 201, rest.text
    admin_post(api, f"/admin/returns/{rest.json()['return_id']}/receive")
    again = admin_post(api, f"/admin/returns/{rest.json()['return_id']}/receive")
    assert again.status_code == 202
    order = wait_for_order(api, user, order["order_id"], lambda o: o["status"] == "RETURNED")
    order = wait_for_order(api, user, order["order_id"], settled)
    assert on_hand(sku) == 5
    assert_fulfillment_invariants(platform, order, {sku: 5})
    assert_error(ask_return(api, user, order["order_id"], sku, 1), 422, "RETURN_NOT_ALLOWED")


def test_returns_are_refused_beyond_what_was_delivered_or_after_the_window(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    carrier.configure(hop_seconds=3600.0)
    user = unique("ff-buyer")
    sku = stock(api, {"wh-north": 5})
    order = place_order(api, user, {sku: 2})
    assert_error(ask_return(api, user, order["order_id"], sku, 1), 422, "RETURN_NOT_ALLOWED")
    carrier.configure(hop_seconds=0.3)
    pack_and_ship(api, order["shipments"][0]["shipment_id"])
    order = wait_for_order(api, user, order["order_id"], all_delivered)
    refused = ask_return(api, user, order["order_id"], sku, 3)
    assert_error(refused, 422, "RETURN_NOT_ALLOWED")
    assert refused.json()["error"]["details"]["returnable"] == {sku: 2}
    assert_error(ask_return(api, user, order["order_id"], "NOT-BOUGHT", 1), 422)
    assert_error(ask_return(api, unique("stranger"), order["order_id"], sku, 1), 404)
    bad = api.post(f"/orders/{order['order_id']}/returns", json={"lines": []}, user=user)
    assert_error(bad, 422, "VALIDATION_FAILED")
    with moved_clock(31 * 24 * 3600):
        assert_error(ask_return(api, user, order["order_id"], sku, 1), 422, "RETURN_NOT_ALLOWED")
    order = wait_for_order(api, user, order["order_id"], lambda o: True)
    assert order["returns"] == []
    assert_fulfillment_invariants(platform, order, {sku: 5})


def test_two_returns_racing_for_the_same_units_only_one_is_accepted(
    api: Api, platform: LocalPlatform, carrier: Any
) -> None:
    user = unique("ff-buyer")
    order, sku = delivered_order(api, user, quantity=2)
    answers: list[int] = []
    lock = threading.Lock()
    go = threading.Barrier(10)

    def claim() -> None:
        go.wait()
        response = ask_return(api, user, order["order_id"], sku, 2)
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=claim) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] + [422] * 9
    order = wait_for_order(api, user, order["order_id"], lambda o: True)
    (accepted,) = order["returns"]
    admin_post(api, f"/admin/returns/{accepted['return_id']}/receive")
    order = wait_for_order(api, user, order["order_id"], settled)
    assert order["status"] == "RETURNED"
    assert_fulfillment_invariants(platform, order, {sku: 5})
