"""Payment steps of the checkout saga, and the sweep that reconciles Stripe with them.

Every Stripe call of a step carries a key derived from the checkout and the step
(`checkout-<id>-authorize`, `-capture`, `-cancel`, `-refund`), so a retry of the same call (the
SDK's own after a lost response, or the saga's) is replayed by Stripe instead of repeated. A key
alone cannot tell a later step what state the PaymentIntent reached, so each step also reads our
payment record (one per checkout) and the intent's own status before acting: capture only what
is `requires_capture`, cancel what is not captured, refund what is. Repeating any step is
harmless. The records are kept by shop.payments.repository.

The intent's id is stored only after Stripe answers; until then it is found by its metadata
(`checkout_id`, `idempotency_key`): a retried authorization and the compensation look for it
before doing anything else, and `reconcile_orphans` cancels any authorization that no payment
record names (what a lost answer left behind when every retry failed).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

import stripe

from shop import aws, breakers, metrics
from shop.clock import iso_now, now
from shop.config import payments_table, secret
from shop.errors import (
    InvalidWebhook,
    PaymentDeclined,
    PaymentNotCapturable,
    PaymentNotFound,
    PaymentProviderUnavailable,
    RefundExceedsPayment,
    RefundRefused,
)
from shop.money import Money
from shop.observability import get_logger
from shop.payments.repository import PaymentsRepository

logger = get_logger("payments")

# One Stripe call, with the SDK's retries, must end well inside the calling function's Timeout
# (30 s for the saga's payment steps; the SDK's defaults, 80 s and 2 retries, did not): a
# function killed mid-call leaves Stripe's work unknown to us. Stripe answers in well under a
# second; a connection it has not accepted in 2 s, or an answer not read in 6 s, is retried.
STRIPE_CONNECT_TIMEOUT_SECONDS = 2.0
STRIPE_READ_TIMEOUT_SECONDS = 6.0
STRIPE_NETWORK_RETRIES = 2


def stripe_call_budget_seconds() -> float:
    """The longest one Stripe call can take: every attempt timing out, plus the SDK's backoff
    between attempts (from 0.5 s, doubling, at most 5 s; its jitter only shortens it)."""
    attempts = STRIPE_NETWORK_RETRIES + 1
    backoff = sum(
        min(
            float(stripe.HTTPClient.INITIAL_DELAY) * 2.0 ** (n - 1),
            float(stripe.HTTPClient.MAX_DELAY),
        )
        for n in range(1, attempts)
    )
    return attempts * (STRIPE_CONNECT_TIMEOUT_SECONDS + STRIPE_READ_TIMEOUT_SECONDS) + backoff


def stripe_client() -> stripe.StripeClient:
    """A client with the current API key: a rotated key gets a new client once the secret's
    max age has passed."""
    return _stripe_client(secret("STRIPE_API_KEY_PARAMETER"))


@lru_cache(maxsize=2)
def _stripe_client(api_key: str) -> stripe.StripeClient:
    base = os.environ.get("STRIPE_API_BASE")  # the local platform's localstripe; unset on AWS
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base} if base else {},
        max_network_retries=STRIPE_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(
            timeout=(STRIPE_CONNECT_TIMEOUT_SECONDS, STRIPE_READ_TIMEOUT_SECONDS)
        ),
    )


def idempotency_key(checkout_id: str, step: str) -> str:
    """The key of one checkout's call to Stripe: the same on every retry of that step, and
    never the same for two steps (Stripe refuses a key reused with other parameters)."""
    return f"checkout-{checkout_id}-{step}"


def repository() -> PaymentsRepository:
    return PaymentsRepository(payments_table())


def payment_record(checkout_id: str) -> dict[str, Any] | None:
    return repository().get(checkout_id)


def _update(checkout_id: str, **fields: Any) -> None:
    repository().update(checkout_id, **fields)


def _intent(intent_id: str) -> Any:
    try:
        return stripe_client().v1.payment_intents.retrieve(intent_id)
    except stripe.APIConnectionError as error:
        raise PaymentProviderUnavailable(str(error)) from None


# How far before our record's creation an intent of the checkout may be stamped (clock skew
# between us and Stripe); the lookup lists intents created since then.
LOOKUP_SKEW_SECONDS = 10 * 60


def find_intent(checkout_id: str, opened_at: str) -> Any | None:
    """The PaymentIntent an earlier attempt created for this checkout, if Stripe has one: by
    the metadata every intent of ours carries. Listed by creation time rather than searched,
    because Stripe's search lags writes by up to a minute and the list does not."""
    since = datetime.fromisoformat(opened_at).timestamp() - LOOKUP_SKEW_SECONDS
    try:
        listed = stripe_client().v1.payment_intents.list(
            params={"created": {"gte": int(since)}, "limit": 100}
        )
        for intent in listed.auto_paging_iter():
            metadata = intent.to_dict().get("metadata") or {}
            if metadata.get("checkout_id") == checkout_id and intent.status != "canceled":
                return intent
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    return None


def authorize(checkout_id: str, amount: Money, payment_method: str) -> dict[str, Any]:
    """Authorize (not capture) the amount. Returns {"status", "intent_id"} where status is
    AUTHORIZED or REQUIRES_ACTION; raises PaymentDeclined. Through Stripe's circuit: while
    it is open, PaymentProviderUnavailable at once. (Captures, cancels and refunds are not:
    money already promised must settle, and their retries wait for Stripe.)"""
    return breakers.call(breakers.PAYMENTS, lambda: _authorize(checkout_id, amount, payment_method))


def _authorize(checkout_id: str, amount: Money, payment_method: str) -> dict[str, Any]:
    record = payment_record(checkout_id)
    # The record is opened before the intent is created: if it exists, an earlier attempt
    # may have created an intent whose answer never reached us.
    earlier_attempt = record is not None
    if record is None:
        repository().open(checkout_id, amount)  # a concurrent attempt may have opened it
        record = payment_record(checkout_id) or {}
    if record.get("status") == "DECLINED":
        raise PaymentDeclined(record.get("decline_reason", "the card was declined"))
    if record.get("intent_id"):
        return _settle_authorization(checkout_id, _intent(record["intent_id"]))
    found = find_intent(checkout_id, record["created_at"]) if earlier_attempt else None
    if found is not None:
        _update(checkout_id, intent_id=found.id)
        return _settle_authorization(checkout_id, found)
    key = idempotency_key(checkout_id, "authorize")
    try:
        intent = stripe_client().v1.payment_intents.create(
            params={
                "amount": amount.amount,
                "currency": amount.currency.lower(),
                "payment_method": payment_method,
                "capture_method": "manual",
                "confirm": True,
                # What finds the intent from our side before its id is stored (find_intent,
                # reconcile_orphans); nothing that varies between retries, or the key's
                # replay would be refused as a different request.
                "metadata": {"checkout_id": checkout_id, "idempotency_key": key},
            },
            options={"idempotency_key": key},
        )
    except stripe.CardError as error:
        _update(checkout_id, status="DECLINED", decline_reason=str(error.user_message or error))
        metrics.count("PaymentDeclined")
        raise PaymentDeclined(str(error.user_message or "the card was declined")) from None
    except stripe.InvalidRequestError as error:
        _update(checkout_id, status="DECLINED", decline_reason=str(error.user_message or error))
        raise PaymentDeclined(f"the payment method was refused: {error.user_message}") from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    _update(checkout_id, intent_id=intent.id)
    return _settle_authorization(checkout_id, intent)


def _settle_authorization(checkout_id: str, intent: Any) -> dict[str, Any]:
    status = {
        "requires_capture": "AUTHORIZED",
        "succeeded": "CAPTURED",
        "requires_action": "REQUIRES_ACTION",
    }.get(intent.status)
    if status is None:
        _update(checkout_id, status="DECLINED", decline_reason=f"intent is {intent.status}")
        raise PaymentDeclined(f"the payment could not be authorized ({intent.status})")
    _update(checkout_id, status=status, updated_at=iso_now())
    return {
        "status": status,
        "intent_id": intent.id,
        "client_secret": intent.client_secret if status == "REQUIRES_ACTION" else None,
    }


def await_action(checkout_id: str, task_token: str) -> None:
    """Park the saga's task token until the webhook reports the customer's 3-D Secure result."""
    _update(checkout_id, wait_token=task_token, updated_at=iso_now())
    record = payment_record(checkout_id) or {}
    # The webhook may have come before the token was stored: then resume at once.
    if record.get("intent_id"):
        intent = _intent(record["intent_id"])
        if intent.status != "requires_action":
            _resume(checkout_id, intent.status)


def capture(checkout_id: str) -> dict[str, Any]:
    record = payment_record(checkout_id)
    if record is None or not record.get("intent_id"):
        raise PaymentNotFound(f"no payment for checkout {checkout_id}")
    intent = _intent(record["intent_id"])
    if intent.status == "requires_capture":
        try:
            intent = stripe_client().v1.payment_intents.capture(
                intent.id, options={"idempotency_key": idempotency_key(checkout_id, "capture")}
            )
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
            raise PaymentProviderUnavailable(str(error)) from None
    if intent.status != "succeeded":
        raise PaymentNotCapturable(f"payment is {intent.status}, cannot capture")
    _update(checkout_id, status="CAPTURED", updated_at=iso_now())
    return {"status": "CAPTURED", "intent_id": intent.id, "amount": record["amount"]}


def cancel_or_refund(checkout_id: str) -> dict[str, Any]:
    """Compensation: nothing charged stays charged. Cancels an uncaptured intent, refunds a
    captured one in full, and does nothing for a checkout that never reached payment."""
    record = payment_record(checkout_id)
    if record is None:
        return {"status": "NONE"}
    if record.get("status") in ("CANCELLED", "REFUNDED"):
        return {"status": record["status"]}
    if record.get("intent_id"):
        intent = _intent(record["intent_id"])
    elif record.get("status") == "CREATING":  # authorize never heard Stripe's answer
        intent = find_intent(checkout_id, record["created_at"])
        if intent is None:
            return {"status": "NONE"}
        _update(checkout_id, intent_id=intent.id)
    else:
        return {"status": "NONE"}
    client = stripe_client().v1
    try:
        if intent.status == "succeeded":
            client.refunds.create(
                params={"payment_intent": intent.id},
                options={"idempotency_key": idempotency_key(checkout_id, "refund")},
            )
            status = "REFUNDED"
        elif intent.status == "canceled":
            status = "CANCELLED"
        else:
            client.payment_intents.cancel(
                intent.id, options={"idempotency_key": idempotency_key(checkout_id, "cancel")}
            )
            status = "CANCELLED"
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    _update(checkout_id, status=status, updated_at=iso_now())
    return {"status": status}


def refund_part(checkout_id: str, claim_id: str, amount: Money) -> dict[str, Any]:
    """Give back `amount` of the checkout's captured payment for a claim (a cancellation, a
    return), exactly once per claim, never more than was paid in all.

    The refund is first recorded with the payment's running `refunded` total, in one
    transaction that refuses to pass what was captured (RefundExceedsPayment); only then is
    Stripe asked, with a key of the claim, so a repeat (a retried step, a lost answer) is
    replayed by Stripe rather than paid twice, and a recorded refund is never recorded again."""
    if amount.amount == 0:
        return {"status": "NOTHING_TO_REFUND", "amount": 0}
    repo = repository()
    record = payment_record(checkout_id)
    if record is None or not record.get("intent_id"):
        raise PaymentNotFound(f"no payment for checkout {checkout_id}")
    refund = repo.refund(claim_id)
    if refund is None:
        repo.open_refund(checkout_id, claim_id, amount.amount, int(record["amount"]))
        # Recorded now, or by an earlier attempt; absent only if the payment had not that much.
        refund = repo.refund(claim_id)
        if refund is None:
            raise RefundExceedsPayment(
                f"refunding {amount.amount} would give back more than checkout "
                f"{checkout_id} has left",
                details={"paid": record["amount"], "refunded": record.get("refunded", 0)},
            )
    if refund.get("refund_id"):
        return {"status": "REFUNDED", "refund_id": refund["refund_id"], "amount": amount.amount}
    # An earlier attempt may have reached Stripe and lost its answer after Stripe forgot the
    # key (kept 24 h): the refund is then found by the claim it names, not made again.
    earlier = _refund_of_claim(record["intent_id"], claim_id)
    if earlier is not None:
        repo.settle_refund(claim_id, earlier)
        return {"status": "REFUNDED", "refund_id": earlier, "amount": amount.amount}
    try:
        created = stripe_client().v1.refunds.create(
            params={
                "payment_intent": record["intent_id"],
                "amount": int(refund.get("amount", amount.amount)),
                "metadata": {"checkout_id": checkout_id, "claim_id": claim_id},
            },
            # No blind retries of money going out: a retry comes back through this function,
            # which first looks for the refund by its claim.
            options={
                "idempotency_key": idempotency_key(checkout_id, f"refund-{claim_id}"),
                "max_network_retries": 0,
            },
        )
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    except stripe.StripeError as error:
        # Refused for good (no refund was made): the payment's total must not keep counting it.
        repo.withdraw_refund(checkout_id, claim_id, int(refund.get("amount", amount.amount)))
        raise RefundRefused(f"Stripe refused the refund: {error.user_message or error}") from None
    repo.settle_refund(claim_id, created.id)
    return {"status": "REFUNDED", "refund_id": created.id, "amount": amount.amount}


def _refund_of_claim(intent_id: str, claim_id: str) -> str | None:
    try:
        listed = stripe_client().v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
        for refund in listed.auto_paging_iter():
            if (refund.to_dict().get("metadata") or {}).get("claim_id") == claim_id:
                return str(refund.id)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    return None


# ----------------------------------------------------------------------- reconciliation
# An authorization no record names is left alone this long: far past the longest a checkout can
# still adopt it (a saga run with its retries and the 15-minute 3-D Secure wait, then up to three
# recovery runs ten minutes apart), so the sweep never cancels what a checkout will capture.
ORPHAN_MIN_AGE_SECONDS = 2 * 60 * 60
# Stripe releases uncaptured authorizations after 7 days: nothing older needs cancelling.
ORPHAN_LOOKBACK_SECONDS = 8 * 24 * 60 * 60


def reconcile_orphans(time_left_seconds: float) -> dict[str, Any]:
    """Cancel every authorized (`requires_capture`) intent of ours that no checkout owns: its
    checkout's payment record names no intent, or names another one. Idempotent: a cancelled
    intent is not listed as authorized again, and each cancel carries its own key. Stops
    before `time_left_seconds` run out, leaving the rest to the next run."""
    stop_at = time.monotonic() + time_left_seconds - 2 * stripe_call_budget_seconds()
    at = now()
    cancelled: list[str] = []
    checked = 0
    client = stripe_client().v1
    try:
        listed = client.payment_intents.list(
            params={
                "created": {
                    "gte": int(at - ORPHAN_LOOKBACK_SECONDS),
                    "lte": int(at - ORPHAN_MIN_AGE_SECONDS),
                },
                "limit": 100,
            }
        )
        for intent in listed.auto_paging_iter():
            if time.monotonic() > stop_at:
                break
            checkout_id = (intent.to_dict().get("metadata") or {}).get("checkout_id")
            if intent.status != "requires_capture" or not checkout_id:
                continue  # not an authorization, or not the shop's
            checked += 1
            record = payment_record(checkout_id) or {}
            if record.get("intent_id") == intent.id:
                continue  # its checkout owns it: the saga captures or cancels it
            client.payment_intents.cancel(
                intent.id,
                options={"idempotency_key": idempotency_key(checkout_id, f"reconcile-{intent.id}")},
            )
            logger.warning(
                "cancelled an orphaned authorization",
                extra={
                    "checkout_id": checkout_id,
                    "intent_id": intent.id,
                    "owned_intent_id": record.get("intent_id"),
                    "amount": intent.amount,
                },
            )
            cancelled.append(intent.id)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    return {"cancelled": cancelled, "checked": checked}


# ----------------------------------------------------------------------------- webhooks
def handle_webhook(payload: bytes, signature: str) -> dict[str, Any]:
    """Verify and apply a Stripe event. Replays are ignored; the event only resumes a saga
    waiting on 3-D Secure: the saga alone completes the checkout (one owner of completion)."""
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, secret("STRIPE_WEBHOOK_SECRET_PARAMETER"), tolerance=300
        )
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise InvalidWebhook(str(error)) from None
    if not repository().first_delivery(event.id, event.type):
        return {"handled": False, "reason": "replay"}
    obj = json.loads(payload)["data"]["object"]  # verified above; plain JSON from here
    checkout_id = (obj.get("metadata") or {}).get("checkout_id")
    if not checkout_id or not event.type.startswith("payment_intent."):
        return {"handled": False, "reason": "not ours"}
    return {"handled": _resume(checkout_id, str(obj.get("status", "")))}


def _resume(checkout_id: str, intent_status: str) -> bool:
    """Wake the saga parked on this payment, once: the record leaves REQUIRES_ACTION under a
    condition, so a webhook and the saga's own check cannot both resume it."""
    outcome = "AUTHORIZED" if intent_status in ("requires_capture", "succeeded") else "DECLINED"
    if intent_status == "requires_action":
        return False
    token = repository().settle_wait(checkout_id, outcome)
    if token is None:
        return False
    sfn = aws.client("stepfunctions")
    if outcome == "AUTHORIZED":
        sfn.send_task_success(taskToken=token, output='{"status": "AUTHORIZED"}')
    else:
        sfn.send_task_failure(
            taskToken=token,
            error=PaymentDeclined.__name__,
            cause="the customer did not complete authentication",
        )
    return True
