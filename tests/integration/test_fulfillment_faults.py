"""Fulfillment under faults: every step of the refund state machine failing once, failing for
good, or losing its answer; Stripe losing a refund's answer; the shipment planner crashing
after its effect. Each ends with units and money checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from checkout_support import order_status
from fulfillment_support import (
    PRICE,
    admin_post,
    assert_fulfillment_invariants,
    cancel,
    moved_clock,
    on_hand,
    place_order,
    settled,
    stock,
    wait_for_claims,
    wait_for_order,
)

from helpers import Api, assert_error, emulator_client, invoke, unique
from shop import faults
from shop_local import stripe_emulator
from shop_local.platform import LocalPlatform

STEPS = ("restock_claim", "refund_claim", "settle_claim")


@pytest.fixture(autouse=True)
def no_faults_left() -> Iterator[None]:
    yield
    faults.clear()
    stripe_emulator.clear_faults()


def cancelled_order(api: Api, platform: LocalPlatform, user: str) -> tuple[dict[str, Any], str]:
    sku = stock(api, {"wh-north": 4})
    order = place_order(api, user, {sku: 2})
    response = cancel(api, user, order["order_id"])
    assert response.status_code == 202, response.text
    settled_order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, settled_order)
    return wait_for_order(api, user, order["order_id"], lambda o: True), sku


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("mode", ["fail_once", "lose_answer_once"])
def test_a_claim_step_that_fails_once_or_loses_its_answer_still_settles_once(
    api: Api, platform: LocalPlatform, step: str, mode: str
) -> None:
    faults.inject(step, mode)
    order, sku = cancelled_order(api, platform, unique("ff-faults"))
    assert faults.pending(step) is None, "the fault fired"
    (cancellation,) = order["cancellations"]
    assert cancellation["status"] == "REFUNDED"
    assert order["status"] == "CANCELLED"
    assert on_hand(sku) == 4
    assert_fulfillment_invariants(platform, order, {sku: 4})


@pytest.mark.parametrize("step", STEPS)
def test_a_claim_step_that_keeps_failing_stalls_the_claim_without_doing_anything_twice(
    api: Api, platform: LocalPlatform, step: str
) -> None:
    faults.inject(step, "fail")
    order, sku = cancelled_order(api, platform, unique("ff-faults"))
    (cancellation,) = order["cancellations"]
    assert cancellation["status"] == "STALLED"
    # The steps run in order: restock, refund, settle; what ran before the failure stays done.
    restocked = step != "restock_claim"
    assert on_hand(sku) == (4 if restocked else 2)
    assert order["status"] == "CANCELLED"  # nothing will ship, whatever the claim's state
    assert all(s["status"] == "CANCELLED" for s in order["shipments"])
    from checkout_support import charged_and_refunded, intents_of

    (intent,) = intents_of(order["checkout_id"])
    captured, refunded = charged_and_refunded(intent)
    assert captured == 2 * PRICE
    assert refunded == (2 * PRICE if step == "settle_claim" else 0)
    from shop.inventory.audit import audit

    assert audit() == []


def test_a_refund_whose_answer_stripe_lost_is_not_paid_twice(
    api: Api, platform: LocalPlatform
) -> None:
    # The refund is made, its answer lost, and Stripe forgets the key: the retry finds the
    # refund by its claim instead of refunding again.
    stripe_emulator.lose_responses("POST", "/v1/refunds", times=1, forget_key=True)
    order, sku = cancelled_order(api, platform, unique("ff-faults"))
    assert stripe_emulator.faults_pending() == 0
    assert order["cancellations"][0]["status"] == "REFUNDED"
    assert_fulfillment_invariants(platform, order, {sku: 4})


def test_the_shipment_planner_crashing_after_its_effect_plans_each_shipment_once(
    api: Api, platform: LocalPlatform
) -> None:
    faults.inject("plan_shipments", "crash_once")
    north = stock(api, {"wh-north": 3})
    south = stock(api, {"wh-south": 3})
    user = unique("ff-faults")
    order = place_order(api, user, {north: 1, south: 1})
    platform.wait_until_idle(30)
    assert faults.pending("plan_shipments") is None
    order = wait_for_order(api, user, order["order_id"], lambda o: True)
    assert sorted(s["warehouse_id"] for s in order["shipments"]) == ["wh-north", "wh-south"]
    assert_fulfillment_invariants(platform, order, {north: 3, south: 3})


def test_a_cancel_that_died_before_starting_its_refund_is_refunded_when_the_client_retries(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stock(api, {"wh-north": 4})
    user = unique("ff-faults")
    order = place_order(api, user, {sku: 2})
    faults.inject("start_refund", "fail_once")
    key = unique("cancel")
    path = f"/orders/{order['order_id']}/cancel"
    died = api.post(path, json={}, user=user, headers={"Idempotency-Key": key})
    assert died.status_code == 500  # the shipments are stopped; the refund never started
    retried = api.post(path, json={}, user=user, headers={"Idempotency-Key": key})
    assert retried.status_code == 202, retried.text
    order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, order)
    assert order["cancellations"][0]["status"] == "REFUNDED"
    assert_fulfillment_invariants(platform, order, {sku: 4})


def test_a_cancel_whose_client_never_retries_is_refunded_by_the_sweep(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stock(api, {"wh-north": 4})
    user = unique("ff-faults")
    order = place_order(api, user, {sku: 2})
    faults.inject("start_refund", "fail_once")
    died = cancel(api, user, order["order_id"])
    assert died.status_code == 500
    with moved_clock(120):  # past RESUME_AFTER_SECONDS
        result, error = invoke(platform, "ResumeClaimsFunction", {})
    assert error is None, error
    assert result["resumed"] >= 1
    order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, order)
    assert_fulfillment_invariants(platform, order, {sku: 4})


def test_a_label_bought_by_a_ship_that_died_is_voided_when_the_order_is_cancelled(
    api: Api, platform: LocalPlatform
) -> None:
    platform.carrier.configure(hop_seconds=3600.0)
    sku = stock(api, {"wh-north": 4})
    user = unique("ff-faults")
    order = place_order(api, user, {sku: 1})
    shipment_id = order["shipments"][0]["shipment_id"]
    assert admin_post(api, f"/admin/shipments/{shipment_id}/pack").status_code == 200
    faults.inject("record_label", "fail_once")
    assert admin_post(api, f"/admin/shipments/{shipment_id}/ship").status_code == 500
    cancelled = cancel(api, user, order["order_id"])
    assert cancelled.status_code == 202, cancelled.text
    order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, order)
    assert order["cancellations"][0]["status"] == "REFUNDED"
    tracking = platform.carrier._by_shipment[shipment_id]
    tracker = requests.get(f"{platform.carrier.url}/v1/trackers/{tracking}", timeout=10).json()
    assert tracker["voided"] is True, "the carrier will not carry a cancelled parcel"
    assert_error(admin_post(api, f"/admin/shipments/{shipment_id}/ship"), 409, "SHIPMENT_STATE")
    assert_fulfillment_invariants(platform, order, {sku: 4})


def test_an_operator_retries_a_stalled_cancellation_and_it_settles_once(
    api: Api, platform: LocalPlatform
) -> None:
    faults.inject("refund_claim", "fail")
    user = unique("ff-faults")
    order, sku = cancelled_order(api, platform, user)
    (claim,) = order["cancellations"]
    assert claim["status"] == "STALLED"
    assert order_status(platform, order["order_id"]) == "PLACED"  # not yet announced
    faults.clear()
    retry = f"/admin/claims/{claim['cancellation_id']}/retry"
    retried = admin_post(api, retry)
    assert retried.status_code == 202, retried.text
    order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, order)
    assert order["cancellations"][0]["status"] == "REFUNDED"
    assert order_status(platform, order["order_id"]) == "CANCELLED"  # OrderCancelled follows
    assert_error(admin_post(api, retry), 409, "CLAIM_STATE")
    assert_error(api.post(retry, user=unique("shopper")), 403, "FORBIDDEN")
    assert_fulfillment_invariants(platform, order, {sku: 4})


def test_a_refund_stripe_refuses_for_good_is_not_counted_and_a_retry_pays_it_once(
    api: Api, platform: LocalPlatform
) -> None:
    stripe_emulator.refuse_requests("POST", "/v1/refunds", times=1)
    user = unique("ff-faults")
    order, sku = cancelled_order(api, platform, user)
    assert stripe_emulator.faults_pending() == 0
    (claim,) = order["cancellations"]
    assert claim["status"] == "STALLED"
    payment = emulator_client(platform, "dynamodb").get_item(
        TableName=platform.environment["PAYMENTS_TABLE"],
        Key={"pk": {"S": f"PAYMENT#{order['checkout_id']}"}},
    )["Item"]
    assert payment["refunded"]["N"] == "0", "a refused refund is not counted against the payment"
    retried = admin_post(api, f"/admin/claims/{claim['cancellation_id']}/retry")
    assert retried.status_code == 202, retried.text
    order = wait_for_order(api, user, order["order_id"], settled, timeout=60)
    wait_for_claims(platform, order)
    assert order["cancellations"][0]["status"] == "REFUNDED"
    assert_fulfillment_invariants(platform, order, {sku: 4})
