"""Starting checkouts, reading them, recording their outcome, and recovering stuck ones.

A checkout's id is derived from (user, Idempotency-Key), and its Step Functions execution is
named after it: a repeated POST finds the same record and cannot start a second execution.

    pk = CHECKOUT#<id>   status, lines, total, order_id, failure; while PENDING also
                         `pending` + `started_at` (the sparse index the recovery sweep reads)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from typing import Any

from botocore.exceptions import ClientError

from shop import aws
from shop.cart.service import get_cart, user_owner
from shop.checkout.models import CheckoutView, SagaInput, StartCheckout
from shop.clock import iso_now, now
from shop.config import checkout_state_machine, checkout_table
from shop.dynamo import error_code, from_item, read_item, to_item
from shop.errors import NotFound, PriceChanged, ValidationFailed
from shop.orders.models import OrderLine
from shop.orders.service import order_id_for

STUCK_AFTER_SECONDS = 10 * 60  # longer than any healthy run (3-D Secure waits included)
MAX_RECOVERIES = 3

FAILURE_CODES = {
    "OutOfStock": "OUT_OF_STOCK",
    "PaymentDeclined": "PAYMENT_DECLINED",
    "PriceChanged": "PRICE_CHANGED",
    "ItemUnavailable": "ITEM_UNAVAILABLE",
    "States.Timeout": "PAYMENT_TIMEOUT",
    "ReservationLapsed": "RESERVATION_EXPIRED",
    "RecoveryExhausted": "CHECKOUT_ABANDONED",
}


def checkout_id_for(user_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{user_id}\n{idempotency_key}".encode()).hexdigest()
    return f"co-{digest[:32]}"


def _key(checkout_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CHECKOUT#{checkout_id}"}}


def _read(checkout_id: str) -> dict[str, Any] | None:
    return read_item(checkout_table(), _key(checkout_id))


def _view(record: dict[str, Any]) -> CheckoutView:
    return CheckoutView.model_validate(record)  # ignores pk, saga_input, pending, ...


def start_checkout(
    user_id: str, idempotency_key: str, request: StartCheckout, correlation_id: str
) -> CheckoutView:
    checkout_id = checkout_id_for(user_id, idempotency_key)
    existing = _read(checkout_id)
    if existing is None:
        saga = _snapshot(checkout_id, user_id, request, correlation_id)
        existing = _create(saga)
    if existing["user_id"] != user_id:  # cannot happen: the id includes the user
        raise NotFound("no such checkout", code="CHECKOUT_NOT_FOUND")
    if existing["status"] == "PENDING":
        _start_execution(checkout_id, existing["saga_input"], name=checkout_id)
    return _view(existing)


def _snapshot(
    checkout_id: str, user_id: str, request: StartCheckout, correlation_id: str
) -> SagaInput:
    cart = get_cart(user_owner(user_id))
    if not cart.lines:
        raise ValidationFailed("the cart is empty", code="CART_EMPTY")
    unavailable = [line.sku for line in cart.lines if not line.available]
    if unavailable:
        raise ValidationFailed(
            "some items are no longer sold", code="ITEM_UNAVAILABLE", details={"skus": unavailable}
        )
    changed = [line.sku for line in cart.lines if line.price_changed]
    if changed:
        raise PriceChanged(
            "some prices changed since they were added; review the cart",
            details={"skus": changed},
        )
    if len(cart.totals) != 1:
        raise ValidationFailed("a checkout is paid in one currency", code="MIXED_CURRENCIES")
    return SagaInput(
        checkout_id=checkout_id,
        user_id=user_id,
        lines=[
            OrderLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price)
            for line in cart.lines
        ],
        total=cart.totals[0],
        payment_method=request.payment_method,
        shipping_address=request.shipping_address,
        correlation_id=correlation_id,
    )


def _create(saga: SagaInput) -> dict[str, Any]:
    at = iso_now()
    record = {
        "pk": f"CHECKOUT#{saga.checkout_id}",
        "checkout_id": saga.checkout_id,
        "user_id": saga.user_id,
        "status": "PENDING",
        "lines": [line.model_dump() for line in saga.lines],
        "total": saga.total.model_dump(),
        "saga_input": json.dumps(saga.model_dump()),
        "pending": "PENDING",
        "started_at": math.floor(now()),
        "recoveries": 0,
        "created_at": at,
        "updated_at": at,
    }
    try:
        aws.client("dynamodb").put_item(
            TableName=checkout_table(),
            Item=to_item(record),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        raced = _read(saga.checkout_id)  # a concurrent request with the same key won
        assert raced is not None
        return raced
    return record


def _start_execution(checkout_id: str, saga_input: str, *, name: str) -> None:
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=checkout_state_machine(), name=name, input=saga_input
        )
    except ClientError as error:
        # Same name, same input: Standard workflows treat it as the same execution.
        if error_code(error) != "ExecutionAlreadyExists":
            raise


def get_checkout(checkout_id: str, user_id: str) -> CheckoutView:
    record = _read(checkout_id)
    if record is None or record["user_id"] != user_id:
        raise NotFound(f"no checkout {checkout_id}", code="CHECKOUT_NOT_FOUND")
    return _view(record)


def record_outcome(checkout_id: str, error: dict[str, Any] | None) -> CheckoutView:
    """The saga's last step: SUCCEEDED with the order, or FAILED with a code. The first outcome
    recorded wins; recording it again changes nothing."""
    values: dict[str, Any]
    if error is None:
        values = {":s": "SUCCEEDED", ":o": order_id_for(checkout_id)}
        update = "SET #s = :s, order_id = :o, updated_at = :now REMOVE pending"
    else:
        name = str(error.get("Error", ""))
        cause = str(error.get("Cause", ""))
        with contextlib.suppress(ValueError, AttributeError):  # Lambda errors' Cause is JSON
            cause = str(json.loads(cause).get("errorMessage", cause))
        code = FAILURE_CODES.get(name, "CHECKOUT_FAILED")
        values = {":s": "FAILED", ":f": {"code": code, "message": cause[:500] or name}}
        update = "SET #s = :s, failure = :f, updated_at = :now REMOVE pending"
    values[":now"] = iso_now()
    values[":pending"] = "PENDING"
    try:
        aws.client("dynamodb").update_item(
            TableName=checkout_table(),
            Key=_key(checkout_id),
            UpdateExpression=update,
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_item(values),
        )
    except ClientError as err:
        if error_code(err) != "ConditionalCheckFailedException":
            raise
    record = _read(checkout_id)
    if record is None:
        raise NotFound(f"no checkout {checkout_id}", code="CHECKOUT_NOT_FOUND")
    return _view(record)


def recover_stuck() -> list[str]:
    """Find checkouts PENDING for too long whose execution is not running, and run the saga
    again under a new execution name: every step is idempotent, so it finishes what was done
    or compensates it. After MAX_RECOVERIES, run compensation only."""
    sfn = aws.client("stepfunctions")
    response = aws.client("dynamodb").query(
        TableName=checkout_table(),
        IndexName="PendingCheckoutsIndex",
        KeyConditionExpression="pending = :p AND started_at < :cutoff",
        ExpressionAttributeValues={
            ":p": {"S": "PENDING"},
            ":cutoff": {"N": str(math.floor(now() - STUCK_AFTER_SECONDS))},
        },
        Limit=50,
    )
    resumed = []
    for item in response.get("Items", []):
        record = from_item(item)
        checkout_id, attempt = record["checkout_id"], int(record.get("recoveries", 0))
        last = checkout_id if attempt == 0 else f"{checkout_id}-r{attempt}"
        arn = f"{checkout_state_machine().replace(':stateMachine:', ':execution:')}:{last}"
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
        except ClientError as error:
            if error_code(error) != "ExecutionDoesNotExist":
                raise
            status = "MISSING"
        if status == "RUNNING":
            continue
        try:  # claim this recovery attempt, so two sweeps cannot both start one
            aws.client("dynamodb").update_item(
                TableName=checkout_table(),
                Key=_key(checkout_id),
                UpdateExpression="SET recoveries = :next, started_at = :now_s",
                ConditionExpression="recoveries = :seen AND #s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":next": attempt + 1,
                        ":seen": attempt,
                        ":pending": "PENDING",
                        ":now_s": math.floor(now()),
                    }
                ),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                continue
            raise
        saga = json.loads(record["saga_input"])
        if attempt + 1 >= MAX_RECOVERIES:
            saga["compensate_only"] = True
            saga["error"] = {"Error": "RecoveryExhausted", "Cause": "the checkout kept stalling"}
        _start_execution(checkout_id, json.dumps(saga), name=f"{checkout_id}-r{attempt + 1}")
        resumed.append(checkout_id)
    return resumed
