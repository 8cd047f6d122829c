"""Every function's IAM role, as SAM deploys it, allows every AWS call the function's code makes.

The platform records each call a function makes while the suite runs (`shop_local.aws_calls`);
the last test of the run checks them all against the roles of the SAM-translated template
(`shop_local.iam_check`). On AWS a call the role does not allow is an AccessDenied in production:
the await step of a 3-D Secure checkout calling SendTaskSuccess without permission cancels the
customer's checkout.

Two code paths the rest of the suite does not reach are exercised here first: the await step
resuming the saga itself, and each payment step reading the Stripe key in a sandbox of its own.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import shop.config
from helpers import unique
from shop import aws
from shop.config import payments_table
from shop.dynamo import to_item
from shop.payments.service import payment_record, stripe_client
from shop_local.aws_calls import TASK_TOKEN, recorder
from shop_local.functions import FunctionError
from shop_local.iam_check import function_roles, refusals, report, task_token_issuers
from shop_local.platform import LocalPlatform
from shop_local.provision import ACCOUNT, REGION

AWAIT = "AwaitPaymentActionFunction"
STRIPE_STEPS = [
    "AuthorizePaymentFunction",
    "CapturePaymentFunction",
    "CancelPaymentFunction",
    AWAIT,
]
# Fault injection (shop.faults) is switched on by tests only: its StopExecution is no call of
# the deployed functions.
TEST_ONLY_ORIGINS = {"shop.faults"}


def fresh_sandbox() -> None:
    """On AWS each function has its own sandbox, so each reads its secrets itself; here all
    functions share one process and one secrets cache, and a function that finds the key
    cached by another makes no SSM call. Emptied, the next function reads for itself."""
    shop.config._parameters().clear_cache()


def saga_input(checkout_id: str, payment_method: str) -> dict[str, Any]:
    price = {"amount": 1250, "currency": "GBP"}
    return {
        "checkout_id": checkout_id,
        "user_id": unique("buyer"),
        "lines": [{"sku": "IAM-1", "quantity": 1, "unit_price": price}],
        "total": price,
        "payment_method": payment_method,
        "shipping_address": {
            "name": "Ann Buyer",
            "line1": "1 High Street",
            "city": "London",
            "postal_code": "N1 1AA",
            "country": "GB",
        },
    }


def recorded(function: str) -> set[tuple[str, str]]:
    return {(call.action, call.resource) for call in recorder.of(function)}


def test_each_payment_step_reads_the_stripe_key_in_its_own_sandbox(
    platform: LocalPlatform,
) -> None:
    checkout_id = unique("iam")
    for function, event in [
        ("AuthorizePaymentFunction", saga_input(checkout_id, "pm_card_visa")),
        ("CapturePaymentFunction", {"checkout_id": checkout_id}),
        ("CancelPaymentFunction", {"checkout_id": checkout_id}),  # refunds the capture
        (AWAIT, {"checkout_id": checkout_id, "task_token": unique("token")}),
    ]:
        fresh_sandbox()
        platform.functions.invoke(function, event)
    assert (payment_record(checkout_id) or {})["status"] == "REFUNDED"
    name = platform.function_environments[AWAIT]["STRIPE_API_KEY_PARAMETER"]
    api_key = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
    for function in STRIPE_STEPS:
        assert ("ssm:GetParameter", api_key) in recorded(function), function


def test_the_await_step_resumes_the_saga_when_the_customer_authenticated_first(
    platform: LocalPlatform,
) -> None:
    # The state 3-D Secure leaves when the customer finishes before the saga parks its task
    # token: our record still REQUIRES_ACTION, the PaymentIntent already capturable. (No
    # checkout id in its metadata, so that no webhook of Stripe's races the step.)
    checkout_id = unique("iam")
    intent = stripe_client().v1.payment_intents.create(
        params={
            "amount": 1250,
            "currency": "gbp",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        }
    )
    assert intent.status == "requires_capture"
    record = {"pk": f"PAYMENT#{checkout_id}", "checkout_id": checkout_id, "intent_id": intent.id}
    aws.client("dynamodb").put_item(
        TableName=payments_table(),
        Item=to_item({**record, "status": "REQUIRES_ACTION", "amount": 1250, "currency": "GBP"}),
    )
    with pytest.raises(FunctionError) as raised:
        platform.functions.invoke(AWAIT, {"checkout_id": checkout_id, "task_token": "made-up"})
    # It completed the task itself; only the made-up token, which no execution issued, failed.
    assert raised.value.error_type == "InvalidToken", raised.value
    assert (payment_record(checkout_id) or {})["status"] == "AUTHORIZED"
    assert ("states:SendTaskSuccess", TASK_TOKEN) in recorded(AWAIT)


@pytest.mark.after_suite
def test_every_aws_call_a_function_made_is_allowed_by_its_role(platform: LocalPlatform) -> None:
    calls = [call for call in recorder.calls() if call.origin not in TEST_ONLY_ORIGINS]
    lookup = platform.provisioner.lookup
    roles = function_roles(platform.template, lookup)
    silent = sorted(set(roles) - {call.function for call in calls})
    if silent:
        warnings.warn(
            f"{len(silent)} function(s) made no AWS call in this run, so their roles went "
            f"unchecked: {', '.join(silent)}",
            stacklevel=1,
        )
    refused = refusals(calls, roles, task_token_issuers(platform.template, lookup))
    assert not refused, report(refused, roles)
