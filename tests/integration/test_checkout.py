"""Checkout: the saga, its compensations, and the invariants after every run."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from checkout_support import (
    ADDRESS,
    assert_invariants,
    fill_cart,
    intents_of,
    start,
    stocked_sku,
    wait_for,
)
from event_support import BusObserver

from helpers import Api, assert_error, emulator_client, product_payload, unique
from shop import faults
from shop.payments.service import payment_record
from shop_local.event_sources import scheduled_event
from shop_local.platform import LocalPlatform

EVENT_SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


@pytest.fixture(autouse=True)
def no_faults_left() -> Iterator[None]:
    yield
    faults.clear()


def checkout(
    api: Api,
    platform: LocalPlatform,
    user: str,
    lines: dict[str, int],
    payment_method: str = "pm_card_visa",
) -> tuple[str, dict[str, Any]]:
    cart = fill_cart(api, user, lines)
    checkout_id = start(api, user, payment_method)
    view = wait_for(api, user, checkout_id)
    assert_invariants(api, platform, user, checkout_id, view, cart)
    return checkout_id, view


def wait_until_stopped(platform: LocalPlatform, execution_name: str) -> None:
    """Until the execution is no longer running (the injected abort stopped it)."""
    sfn = emulator_client(platform, "stepfunctions")
    arn = platform.provisioner.refs["CheckoutStateMachine"].replace(":stateMachine:", ":execution:")
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=f"{arn}:{execution_name}")["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_checkout_places_one_order_captures_once_commits_stock_and_empties_the_cart(
    api: Api, platform: LocalPlatform
) -> None:
    sku, other = stocked_sku(api, 5), stocked_sku(api, 5, amount=300)
    user = unique("buyer")
    _, view = checkout(api, platform, user, {sku: 2, other: 1})
    assert view["status"] == "SUCCEEDED"
    assert view["total"] == {"amount": 2 * 1250 + 300, "currency": "GBP"}
    assert api.get(f"/inventory/{sku}").json()["available"] == 3
    order = api.get(f"/orders/{view['order_id']}", user=user).json()
    assert order["status"] == "PLACED"
    assert [h["status"] for h in order["history"]] == ["PENDING", "PLACED"]
    assert all(h["at"] for h in order["history"])


def test_an_order_keeps_the_names_its_lines_had_in_the_cart(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 5)
    user = unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    (line,) = cart["lines"]
    view = wait_for(api, user, start(api, user))
    order = api.get(f"/orders/{view['order_id']}", user=user).json()
    assert [(ordered["sku"], ordered["name"]) for ordered in order["lines"]] == [
        (sku, line["name"])
    ]
    assert line["name"]


def test_checkout_releases_stock_when_card_is_declined(api: Api, platform: LocalPlatform) -> None:
    sku = stocked_sku(api, 5)
    _, view = checkout(api, platform, unique("buyer"), {sku: 2}, "pm_card_chargeDeclined")
    assert view["failure"]["code"] == "PAYMENT_DECLINED"
    assert api.get(f"/inventory/{sku}").json()["available"] == 5


def test_checkout_fails_out_of_stock_without_touching_the_card(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 1)
    checkout_id, view = checkout(api, platform, unique("buyer"), {sku: 2})
    assert view["failure"]["code"] == "OUT_OF_STOCK"
    assert intents_of(checkout_id) == []


@pytest.mark.parametrize(
    "step",
    [
        "reserve_stock",
        "create_order",
        "authorize_payment",
        "capture_payment",
        "commit_stock",
        "mark_order_placed",
    ],
)
def test_a_failing_step_is_compensated(api: Api, platform: LocalPlatform, step: str) -> None:
    sku = stocked_sku(api, 5)
    faults.inject(step, "fail")
    _, view = checkout(api, platform, unique("buyer"), {sku: 2})
    assert view["status"] == "FAILED"
    assert view["failure"]["code"] == "CHECKOUT_FAILED"
    assert api.get(f"/inventory/{sku}").json()["available"] == 5


@pytest.mark.parametrize(
    "step", ["reserve_stock", "authorize_payment", "capture_payment", "commit_stock"]
)
def test_a_transient_error_in_a_step_is_retried_and_the_checkout_succeeds(
    api: Api, platform: LocalPlatform, step: str
) -> None:
    sku = stocked_sku(api, 5)
    faults.inject(step, "fail_once")
    _, view = checkout(api, platform, unique("buyer"), {sku: 1})
    assert view["status"] == "SUCCEEDED"


def test_a_failing_compensation_is_retried_until_it_holds(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 5)
    faults.inject("capture_payment", "fail")
    faults.inject("release_stock", "fail_once")
    _, view = checkout(api, platform, unique("buyer"), {sku: 1})
    assert view["status"] == "FAILED"


def test_a_price_change_during_checkout_fails_it_cleanly(api: Api, platform: LocalPlatform) -> None:
    sku = unique("PRICE").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku], amount=500), user="admin", admin=True
    ).json()
    api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-co", "quantity": 5},
        user="admin",
        admin=True,
    )
    user = unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    faults.inject("reserve_stock", "fail_once")
    checkout_id = start(api, user)
    api.put(
        f"/admin/products/{created['product_id']}",
        json=product_payload(skus=[sku], amount=650),
        user="admin",
        admin=True,
    )
    view = wait_for(api, user, checkout_id)
    # ReserveStock's retry waits a second: the price changed before CreateOrder checked it.
    assert view["failure"]["code"] == "PRICE_CHANGED"
    assert_invariants(api, platform, user, checkout_id, view, cart)
    response = api.post(
        "/checkout",
        json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
        user=user,
        headers={"Idempotency-Key": unique("again")},
    )
    assert_error(response, 409, "PRICE_CHANGED")


def three_d_secure_checkout(api: Api) -> tuple[str, dict[str, Any], str]:
    """A buyer's checkout of one unit with the card that asks for 3-D Secure: (user, cart,
    checkout id)."""
    user = unique("buyer")
    cart = fill_cart(api, user, {stocked_sku(api, 5): 1})
    return user, cart, start(api, user, "pm_card_authenticationRequired")


def awaiting_the_customer(api: Api, user: str, checkout_id: str) -> dict[str, Any]:
    """The checkout's view once its saga is parked on 3-D Secure, `next_action` shown."""
    deadline = time.monotonic() + 20
    view = api.get(f"/checkout/{checkout_id}", user=user).json()
    while "next_action" not in view or "wait_token" not in (payment_record(checkout_id) or {}):
        assert time.monotonic() < deadline, view
        time.sleep(0.1)
        view = api.get(f"/checkout/{checkout_id}", user=user).json()
    return dict(view)


def authenticate(platform: LocalPlatform, action: dict[str, Any], *, success: bool) -> None:
    """What the storefront's 3-D Secure page posts: the publishable key only, no secret."""
    answered = requests.post(
        f"{platform.stripe.url}/v1/payment_intents/{action['payment_intent_id']}/_authenticate",
        data={
            "client_secret": action["client_secret"],
            "success": str(success).lower(),
            "key": "pk_test_shop_local",
        },
        timeout=10,
    )
    assert answered.status_code == 200, answered.text


def test_3d_secure_waits_for_the_webhook_then_completes(api: Api, platform: LocalPlatform) -> None:
    user, cart, checkout_id = three_d_secure_checkout(api)
    deadline = time.monotonic() + 20
    while (payment_record(checkout_id) or {}).get("status") != "REQUIRES_ACTION":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while "wait_token" not in (payment_record(checkout_id) or {}):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.get(f"/checkout/{checkout_id}", user=user).json()["status"] == "PENDING"
    (intent,) = intents_of(checkout_id)
    authenticated = requests.post(  # the customer completes 3-D Secure in their browser
        f"{platform.stripe.url}/v1/payment_intents/{intent.id}/_authenticate",
        data={"client_secret": intent.client_secret, "success": "true"},
        auth=("sk_test_shop_local", ""),
        timeout=10,
    )
    assert authenticated.status_code == 200, authenticated.text
    view = wait_for(api, user, checkout_id)
    assert view["status"] == "SUCCEEDED", view
    assert_invariants(api, platform, user, checkout_id, view, cart)


def test_a_checkout_awaiting_3d_secure_tells_the_storefront_what_to_hand_stripe_js(
    api: Api, platform: LocalPlatform
) -> None:
    user, _, checkout_id = three_d_secure_checkout(api)
    view = awaiting_the_customer(api, user, checkout_id)
    (intent,) = intents_of(checkout_id)
    assert view["status"] == "PENDING"
    assert view["next_action"] == {
        "type": "use_stripe_sdk",
        "payment_intent_id": intent.id,
        "client_secret": intent.client_secret,
    }
    authenticate(platform, view["next_action"], success=True)
    done = wait_for(api, user, checkout_id)
    assert done["status"] == "SUCCEEDED", done
    assert "next_action" not in done  # decided: nothing left for the customer to do


def test_a_refused_3d_secure_fails_the_checkout_as_declined_and_is_compensated(
    api: Api, platform: LocalPlatform
) -> None:
    user, cart, checkout_id = three_d_secure_checkout(api)
    authenticate(
        platform, awaiting_the_customer(api, user, checkout_id)["next_action"], success=False
    )
    view = wait_for(api, user, checkout_id)
    assert view["status"] == "FAILED", view
    assert view["failure"]["code"] == "PAYMENT_DECLINED"
    assert "next_action" not in view
    assert_invariants(api, platform, user, checkout_id, view, cart)
    (intent,) = intents_of(checkout_id)
    assert intent.status == "canceled"


def test_3d_secure_never_completed_times_out_and_is_compensated(
    api: Api, platform: LocalPlatform
) -> None:
    user, cart, checkout_id = three_d_secure_checkout(api)
    view = wait_for(api, user, checkout_id)
    assert view["failure"]["code"] == "PAYMENT_TIMEOUT"
    assert_invariants(api, platform, user, checkout_id, view, cart)
    (intent,) = intents_of(checkout_id)
    assert intent.status == "canceled"


def test_the_webhook_refuses_bad_signatures_and_ignores_replays(api: Api) -> None:
    body = json.dumps(
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"metadata": {}}}}
    )
    for signature in ("", "t=1,v1=deadbeef"):
        response = api.post("/payments/webhook", data=body, headers={"Stripe-Signature": signature})
        assert_error(response, 400, "INVALID_SIGNATURE")
    import hashlib
    import hmac

    stamp = int(time.time())
    mac = hmac.new(b"whsec_shop_local", f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    signed = {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}
    first = api.post(
        "/payments/webhook", data=body.replace("evt_1", "evt_" + unique("x")), headers=signed
    )
    assert first.status_code == 400  # the body changed after signing
    body = body.replace("evt_1", "evt_" + unique("x").replace("-", ""))
    mac = hmac.new(b"whsec_shop_local", f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    signed["Stripe-Signature"] = f"t={stamp},v1={mac}"
    assert api.post("/payments/webhook", data=body, headers=signed).json() == {
        "handled": False,
        "reason": "not ours",
    }
    assert api.post("/payments/webhook", data=body, headers=signed).json() == {
        "handled": False,
        "reason": "replay",
    }


def test_a_run_that_stops_after_capture_is_finished_by_the_recovery_sweep(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 5)
    user = unique("buyer")
    cart = fill_cart(api, user, {sku: 2})
    faults.inject("capture_payment", "abort_after")
    checkout_id = start(api, user)
    wait_until_stopped(platform, checkout_id)
    assert api.get(f"/checkout/{checkout_id}", user=user).json()["status"] == "PENDING"
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(11 * 60)
    try:
        resumed = platform.functions.invoke("RecoverCheckoutsFunction", scheduled_event("r"))
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    assert checkout_id in resumed["resumed"]
    view = wait_for(api, user, checkout_id)
    assert view["status"] == "SUCCEEDED"
    assert_invariants(api, platform, user, checkout_id, view, cart)


def test_a_run_stopped_until_its_reservation_expired_is_compensated_by_recovery(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 5)
    user = unique("buyer")
    cart = fill_cart(api, user, {sku: 2})
    faults.inject("authorize_payment", "abort_after")
    checkout_id = start(api, user)
    wait_until_stopped(platform, checkout_id)
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(45 * 60)  # the 30-minute hold lapses
    try:
        platform.functions.invoke("SweepExpiredReservationsFunction", scheduled_event("s"))
        platform.functions.invoke("RecoverCheckoutsFunction", scheduled_event("r"))
        view = wait_for(api, user, checkout_id)
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    assert view["failure"]["code"] == "RESERVATION_EXPIRED"
    assert_invariants(api, platform, user, checkout_id, view, cart)
    assert api.get(f"/inventory/{sku}").json()["available"] == 5


# ------------------------------------------------------------------------------------ races
def test_20_concurrent_checkouts_with_one_key_run_once(api: Api, platform: LocalPlatform) -> None:
    sku = stocked_sku(api, 5)
    user = unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    key = unique("same-key")
    body = {"payment_method": "pm_card_visa", "shipping_address": ADDRESS}

    def post(_: int) -> requests.Response:
        return api.post("/checkout", json=body, user=user, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    accepted = [r for r in responses if r.status_code == 202]
    assert accepted
    assert {r.status_code for r in responses} <= {202, 409}
    (checkout_id,) = {r.json()["checkout_id"] for r in accepted}
    view = wait_for(api, user, checkout_id)
    assert view["status"] == "SUCCEEDED"
    assert_invariants(api, platform, user, checkout_id, view, cart)
    sfn = emulator_client(platform, "stepfunctions")
    executions = sfn.list_executions(
        stateMachineArn=platform.provisioner.refs["CheckoutStateMachine"], maxResults=1000
    )["executions"]
    assert [e["name"] for e in executions].count(checkout_id) == 1
    orders = api.get("/orders", user=user).json()["items"]
    assert [o["order_id"] for o in orders] == [view["order_id"]]


@pytest.mark.crowd
def test_30_buyers_racing_for_10_units_give_10_orders_and_20_clean_failures(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 10)
    buyers = [unique("racer") for _ in range(30)]
    carts = {user: fill_cart(api, user, {sku: 1}) for user in buyers}
    with ThreadPoolExecutor(max_workers=30) as pool:
        checkout_ids = list(pool.map(lambda u: start(api, u), buyers))
    views = {u: wait_for(api, u, c, timeout=120) for u, c in zip(buyers, checkout_ids, strict=True)}
    outcomes = [v.get("failure", {}).get("code", v["status"]) for v in views.values()]
    assert outcomes.count("SUCCEEDED") == 10
    assert outcomes.count("OUT_OF_STOCK") == 20
    for user, checkout_id in zip(buyers, checkout_ids, strict=True):
        assert_invariants(api, platform, user, checkout_id, views[user], carts[user])
    assert api.get(f"/inventory/{sku}").json()["available"] == 0


# ------------------------------------------------------------------------------------ edges
def test_a_checkout_needs_an_idempotency_key_and_a_valid_body(api: Api) -> None:
    sku = stocked_sku(api, 5)
    user = unique("buyer")
    fill_cart(api, user, {sku: 1})
    good = {"payment_method": "pm_card_visa", "shipping_address": ADDRESS}
    assert_error(api.post("/checkout", json=good, user=user), 400, "BAD_REQUEST")
    key = {"Idempotency-Key": unique("k")}
    for bad in (
        {**good, "payment_method": "card"},
        {**good, "extra": 1},
        {**good, "shipping_address": {**ADDRESS, "country": "Britain"}},
        {"payment_method": "pm_card_visa"},
    ):
        assert_error(api.post("/checkout", json=bad, user=user, headers=key), 422)
    assert_error(api.post("/checkout", data="{", user=user, headers=key), 400)
    assert_error(api.post("/checkout", json=good, headers=key), 401)
    assert api.get("/orders", user=user).json()["items"] == []


def test_an_empty_cart_cannot_be_checked_out(api: Api) -> None:
    response = api.post(
        "/checkout",
        json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
        user=unique("empty"),
        headers={"Idempotency-Key": unique("k")},
    )
    assert_error(response, 422, "CART_EMPTY")


def test_checkouts_and_orders_are_visible_to_their_owner_only(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, 5)
    owner, stranger = unique("owner"), unique("stranger")
    checkout_id, view = checkout(api, platform, owner, {sku: 1})
    assert_error(api.get(f"/checkout/{checkout_id}", user=stranger), 404, "CHECKOUT_NOT_FOUND")
    assert_error(api.get(f"/orders/{view['order_id']}", user=stranger), 404, "ORDER_NOT_FOUND")
    assert api.get("/orders", user=stranger).json()["items"] == []
    assert [o["order_id"] for o in api.get("/orders", user=owner).json()["items"]] == [
        view["order_id"]
    ]


def test_order_placed_is_published_with_the_callers_correlation_id_and_matches_its_schema(
    api: Api, platform: LocalPlatform
) -> None:
    with BusObserver(platform, "orders", {"source": ["shop.orders"]}) as observer:
        sku = stocked_sku(api, 5)
        user = unique("buyer")
        fill_cart(api, user, {sku: 1})
        trace = unique("trace")
        response = api.post(
            "/checkout",
            json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
            user=user,
            headers={"Idempotency-Key": unique("k"), "X-Correlation-Id": trace},
        )
        assert response.headers["X-Correlation-Id"] == trace
        view = wait_for(api, user, response.json()["checkout_id"])
        schema = json.loads((EVENT_SCHEMAS / "OrderPlaced.json").read_text())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for envelope in observer.envelopes(wait_seconds=1):
                if envelope["detail"]["data"]["order_id"] == view["order_id"]:
                    assert envelope["detail-type"] == "OrderPlaced"
                    jsonschema.validate(envelope["detail"], schema)
                    # The caller's correlation id followed the request through the saga.
                    assert envelope["detail"]["correlation_id"] == trace
                    return
        raise AssertionError("OrderPlaced never arrived")
