"""Payment steps of the checkout saga.

Stripe honours idempotency keys, but localstripe ignores them, and a key alone cannot tell a
retry what state the PaymentIntent reached. So each step reads our payment record (one per
checkout) and the PaymentIntent's own status before acting: capture only what is
`requires_capture`, cancel what is not captured, refund what is. Repeating any step is harmless.
The records are kept by shop.payments.repository.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import stripe

from shop import aws
from shop.clock import iso_now
from shop.config import payments_table, secret
from shop.errors import (
    InvalidWebhook,
    PaymentDeclined,
    PaymentNotCapturable,
    PaymentNotFound,
    PaymentProviderUnavailable,
)
from shop.money import Money
from shop.payments.repository import PaymentsRepository


@cache
def stripe_client() -> stripe.StripeClient:
    base = os.environ.get("STRIPE_API_BASE")  # the local platform's localstripe; unset on AWS
    return stripe.StripeClient(
        secret("STRIPE_API_KEY_PARAMETER"),
        base_addresses={"api": base} if base else {},
        max_network_retries=2,
    )


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


def authorize(checkout_id: str, amount: Money, payment_method: str) -> dict[str, Any]:
    """Authorize (not capture) the amount. Returns {"status", "intent_id"} where status is
    AUTHORIZED or REQUIRES_ACTION; raises PaymentDeclined."""
    record = payment_record(checkout_id)
    if record is None:
        repository().open(checkout_id, amount)  # a concurrent attempt may have opened it
        record = payment_record(checkout_id) or {}
    if record.get("status") == "DECLINED":
        raise PaymentDeclined(record.get("decline_reason", "the card was declined"))
    if record.get("intent_id"):
        return _settle_authorization(checkout_id, _intent(record["intent_id"]))
    try:
        intent = stripe_client().v1.payment_intents.create(
            params={
                "amount": amount.amount,
                "currency": amount.currency.lower(),
                "payment_method": payment_method,
                "capture_method": "manual",
                "confirm": True,
                "metadata": {"checkout_id": checkout_id},
            },
            options={"idempotency_key": f"authorize-{checkout_id}"},
        )
    except stripe.CardError as error:
        _update(checkout_id, status="DECLINED", decline_reason=str(error.user_message or error))
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
                intent.id, options={"idempotency_key": f"capture-{checkout_id}"}
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
    if record is None or not record.get("intent_id"):
        return {"status": "NONE"}
    if record.get("status") in ("CANCELLED", "REFUNDED"):
        return {"status": record["status"]}
    intent = _intent(record["intent_id"])
    client = stripe_client().v1
    try:
        if intent.status == "succeeded":
            client.refunds.create(
                params={"payment_intent": intent.id},
                options={"idempotency_key": f"refund-{checkout_id}"},
            )
            status = "REFUNDED"
        elif intent.status == "canceled":
            status = "CANCELLED"
        else:
            client.payment_intents.cancel(
                intent.id, options={"idempotency_key": f"cancel-{checkout_id}"}
            )
            status = "CANCELLED"
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise PaymentProviderUnavailable(str(error)) from None
    _update(checkout_id, status=status, updated_at=iso_now())
    return {"status": status}


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
