"""Issue 14, "Orphaned authorization": when Stripe's answer to creating the PaymentIntent is
lost, the checkout still ends with exactly one intent captured and none left authorized.

The emulator loses the answer after Stripe did the work (`stripe_emulator.lose_responses`), and
the real saga, handlers and SDK run against it over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from checkout_support import (
    assert_invariants,
    charged_and_refunded,
    fill_cart,
    intents_of,
    start,
    stocked_sku,
    wait_for,
)

from helpers import Api, unique
from shop import faults
from shop.payments.service import ORPHAN_MIN_AGE_SECONDS, payment_record
from shop_local import stripe_emulator
from shop_local.event_sources import scheduled_event
from shop_local.platform import LocalPlatform

CREATE_INTENT = ("POST", "/v1/payment_intents")


@pytest.fixture(autouse=True)
def no_faults_left() -> Iterator[None]:
    yield
    stripe_emulator.clear_faults()
    faults.clear()


def sweep(platform: LocalPlatform, hours_later: float) -> dict[str, Any]:
    """Run the reconciliation sweep as its schedule would, `hours_later` from now."""
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(hours_later * 3600)
    try:
        result: dict[str, Any] = platform.functions.invoke(
            "ReconcilePaymentsFunction", scheduled_event("reconcile")
        )
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    return result


def test_a_lost_answer_to_authorize_is_replayed_by_its_key_and_makes_no_second_intent(
    api: Api, platform: LocalPlatform
) -> None:
    sku, user = stocked_sku(api, 5), unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    stripe_emulator.lose_responses(*CREATE_INTENT)  # the SDK's retry, with the same key
    checkout_id = start(api, user)
    view = wait_for(api, user, checkout_id)
    assert stripe_emulator.faults_pending() == 0, "the answer was not lost"
    assert view["status"] == "SUCCEEDED", view
    (intent,) = intents_of(checkout_id)
    assert intent.metadata["idempotency_key"] == f"checkout-{checkout_id}-authorize"
    assert_invariants(api, platform, user, checkout_id, view, cart)


def test_an_authorize_that_never_heard_stripe_finds_its_intent_on_the_sagas_retry(
    api: Api, platform: LocalPlatform
) -> None:
    sku, user = stocked_sku(api, 5), unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    # Every attempt of the SDK loses its answer: the step fails as provider-unavailable, and
    # the saga's retry, a new invocation, finds the intent by its metadata.
    stripe_emulator.lose_responses(*CREATE_INTENT, times=3)
    checkout_id = start(api, user)
    view = wait_for(api, user, checkout_id)
    assert stripe_emulator.faults_pending() == 0
    assert view["status"] == "SUCCEEDED", view
    (intent,) = intents_of(checkout_id)
    assert (payment_record(checkout_id) or {})["intent_id"] == intent.id
    assert_invariants(api, platform, user, checkout_id, view, cart)


def test_a_failed_checkout_cancels_the_intent_whose_answer_it_never_heard(
    api: Api, platform: LocalPlatform
) -> None:
    sku, user = stocked_sku(api, 5), unique("buyer")
    cart = fill_cart(api, user, {sku: 1})
    # Stripe authorizes but no answer reaches the step (all 3 SDK attempts), and the step's
    # retry fails for good (the saga's retry waits a second first): the compensation alone can
    # find the intent.
    stripe_emulator.lose_responses(*CREATE_INTENT, times=3)
    faults.inject("authorize_payment", "fail_after_once")  # whatever the retry's jitter
    try:
        checkout_id = start(api, user)
        view = wait_for(api, user, checkout_id, timeout=90)
    finally:
        faults.clear()
    assert stripe_emulator.faults_pending() == 0, "the answers were not all lost"
    assert view["status"] == "FAILED", view
    assert [i.status for i in intents_of(checkout_id)] == ["canceled"]
    assert_invariants(api, platform, user, checkout_id, view, cart)


def test_the_sweep_cancels_an_authorization_no_checkout_owns_and_keeps_the_owned_ones(
    api: Api, platform: LocalPlatform
) -> None:
    sku, user = stocked_sku(api, 5), unique("buyer")
    fill_cart(api, user, {sku: 1})
    # The answer is lost and the retry is not recognised (its key pruned, or never sent, as
    # before this fix): Stripe holds two authorizations for one checkout.
    stripe_emulator.lose_responses(*CREATE_INTENT, forget_key=True)
    checkout_id = start(api, user)
    view = wait_for(api, user, checkout_id)
    assert stripe_emulator.faults_pending() == 0
    assert view["status"] == "SUCCEEDED", view
    assert sorted(i.status for i in intents_of(checkout_id)) == ["requires_capture", "succeeded"]
    # An authorization its checkout owns (the run stopped before capture) is not the sweep's.
    other_sku, other_user = stocked_sku(api, 5), unique("buyer")
    fill_cart(api, other_user, {other_sku: 1})
    faults.inject("authorize_payment", "abort_after")
    parked = start(api, other_user)
    wait_for_record(parked)

    assert sweep(platform, hours_later=ORPHAN_MIN_AGE_SECONDS / 3600 - 0.5)["cancelled"] == []
    swept = sweep(platform, hours_later=ORPHAN_MIN_AGE_SECONDS / 3600 + 0.5)

    intents = intents_of(checkout_id)
    (orphan,) = [i for i in intents if i.status == "canceled"]
    assert orphan.id in swept["cancelled"]
    (captured,) = [i for i in intents if i.status == "succeeded"]
    assert charged_and_refunded(captured) == (view["total"]["amount"], 0)
    assert [i.status for i in intents_of(parked)] == ["requires_capture"]
    assert sweep(platform, hours_later=3)["cancelled"] == []  # idempotent: nothing left to do


def wait_for_record(checkout_id: str) -> None:
    deadline = time.monotonic() + 30
    while (payment_record(checkout_id) or {}).get("status") != "AUTHORIZED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
