"""The Stripe emulator honours `Idempotency-Key` as Stripe documents it
(https://docs.stripe.com/idempotency), lists PaymentIntents as Stripe does, and does not
pickle its whole store on every write (issue 14). Over HTTP, with the real SDK."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from helpers import unique
from shop_local import stripe_emulator
from shop_local.persistence import Journal
from shop_local.platform import LocalPlatform
from shop_local.stripe_emulator import apply_journal

API_KEY = "sk_test_shop_local"


@pytest.fixture
def client(platform: LocalPlatform) -> stripe.StripeClient:
    # No retries of its own: each test decides what is sent again.
    return stripe.StripeClient(API_KEY, base_addresses={"api": platform.stripe.url})


@pytest.fixture(autouse=True)
def no_faults_left() -> Iterator[None]:
    yield
    stripe_emulator.clear_faults()


def intent_params(tag: str, **overrides: Any) -> Any:  # the SDK's TypedDict, loosely
    return {
        "amount": 1250,
        "currency": "gbp",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "confirm": True,
        "metadata": {"checkout_id": tag},
        **overrides,
    }


def post(platform: LocalPlatform, path: str, key: str, data: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{platform.stripe.url}{path}",
        data=data,
        headers={"Idempotency-Key": key},
        auth=(API_KEY, ""),
        timeout=10,
    )


def replayed(obj: Any) -> bool:
    """Whether the SDK's object came from a replayed answer (Stripe's header says so)."""
    return bool(
        obj.last_response and obj.last_response.headers.get("Idempotent-Replayed") == "true"
    )


def tagged(client: stripe.StripeClient, tag: str) -> list[Any]:
    return [
        intent
        for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if (intent.to_dict().get("metadata") or {}).get("checkout_id") == tag
    ]


def test_a_repeat_with_the_same_key_and_parameters_replays_the_first_answer(
    client: stripe.StripeClient,
) -> None:
    tag, key = unique("idem"), unique("key")
    first = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    again = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    assert again.id == first.id
    assert replayed(again)
    assert [i.id for i in tagged(client, tag)] == [first.id]  # no second effect


def test_the_same_key_with_other_parameters_or_on_another_endpoint_is_refused(
    client: stripe.StripeClient, platform: LocalPlatform
) -> None:
    tag, key = unique("idem"), unique("key")
    first = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.payment_intents.create(intent_params(tag, amount=999), {"idempotency_key": key})
    assert refused.value.http_status == 400
    assert refused.value.error is not None
    assert refused.value.error.type == "idempotency_error"
    elsewhere = post(platform, f"/v1/payment_intents/{first.id}/capture", key, {})
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["type"] == "idempotency_error"
    assert [i.id for i in tagged(client, tag)] == [first.id]
    assert client.v1.payment_intents.retrieve(first.id).status == "requires_capture"


def test_parameters_are_compared_not_their_order(platform: LocalPlatform) -> None:
    key = unique("key")
    data = {"amount": "700", "currency": "gbp", "metadata[checkout_id]": unique("idem")}
    first = post(platform, "/v1/payment_intents", key, data)
    reordered = post(platform, "/v1/payment_intents", key, dict(reversed(data.items())))
    assert first.status_code == reordered.status_code == 200
    assert reordered.json()["id"] == first.json()["id"]


def test_a_decline_is_replayed_and_a_refused_request_is_not_saved(
    client: stripe.StripeClient,
) -> None:
    tag, key = unique("idem"), unique("key")
    declined = intent_params(tag, payment_method="pm_card_chargeDeclined")
    for _ in range(2):  # the endpoint ran: its 402 is the answer to every repeat
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(declined, {"idempotency_key": key})
    assert len(tagged(client, tag)) == 1
    # Parameters that fail validation save nothing (Stripe: the endpoint never began), so the
    # corrected request under the same key goes through.
    other_key = unique("key")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(
            intent_params(tag, amount=-1), {"idempotency_key": other_key}
        )
    made = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": other_key})
    assert made.status == "requires_capture"


def test_keys_expire_after_24_hours(
    client: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag, key = unique("idem"), unique("key")
    # Relative to wherever earlier tests left the platform's clock.
    now = float(os.environ.get("SHOP_CLOCK_OFFSET_SECONDS", "0"))
    first = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", str(now + 23 * 3600))
    assert client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key}).id == (
        first.id
    )
    monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", str(now + 24 * 3600 + 1))
    later = client.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    assert later.id != first.id  # pruned: Stripe makes a new request of it
    assert {i.id for i in tagged(client, tag)} == {first.id, later.id}


def test_a_lost_answer_is_replayed_to_the_sdks_retry_with_no_second_intent(
    platform: LocalPlatform,
) -> None:
    retrying = stripe.StripeClient(
        API_KEY, base_addresses={"api": platform.stripe.url}, max_network_retries=2
    )
    tag, key = unique("idem"), unique("key")
    stripe_emulator.lose_responses("POST", "/v1/payment_intents")
    intent = retrying.v1.payment_intents.create(intent_params(tag), {"idempotency_key": key})
    assert stripe_emulator.faults_pending() == 0  # the first answer really was lost
    assert replayed(intent)
    assert [i.id for i in tagged(retrying, tag)] == [intent.id]


def test_intents_are_listed_newest_first_and_filtered_by_creation_time(
    client: stripe.StripeClient,
) -> None:
    tag = unique("list")
    made = [client.v1.payment_intents.create(intent_params(tag)) for _ in range(3)]
    newest = client.v1.payment_intents.list(params={"limit": 3}).data
    assert [i.id for i in newest] == [i.id for i in reversed(made)]
    future = made[-1].created + 3600
    assert client.v1.payment_intents.list(params={"created": {"gte": future}}).data == []
    recent = client.v1.payment_intents.list(
        params={"created": {"gte": made[0].created, "lte": made[-1].created}, "limit": 100}
    )
    assert {i.id for i in made} <= {i.id for i in recent.auto_paging_iter()}


def test_a_write_journals_what_it_changed_not_the_whole_store(
    client: stripe.StripeClient, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps: list[object] = []
    real_dump = pickle.dump

    def counting_dump(obj: object, *args: Any, **kwargs: Any) -> None:
        dumps.append(obj)
        real_dump(obj, *args, **kwargs)

    monkeypatch.setattr(pickle, "dump", counting_dump)
    journal = Journal(platform.state_dir, "stripe")
    before = len(journal.recover()[1])
    intent = client.v1.payment_intents.create(intent_params(unique("store")))
    client.v1.payment_intents.capture(intent.id)
    assert dumps == []  # localstripe pickled all of it several times per request
    snapshot, records = journal.recover()
    assert 2 <= len(records) - before <= 4  # a record per write (and webhook events)
    assert max(len(r) for r in records[before:]) < 20_000  # the changes, not the store

    # What a restart rebuilds from the state folder: the capture, one object per key.
    store: dict[str, Any] = {}
    apply_journal(store, {}, snapshot, records)
    rebuilt = store[f"payment_intent:{intent.id}"]
    assert rebuilt.status == "succeeded"
    assert rebuilt.latest_charge is store[f"charge:{rebuilt.latest_charge.id}"]
    assert rebuilt.latest_charge.captured
