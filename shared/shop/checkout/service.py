"""Starting checkouts, reading them, recording their outcome, and recovering stuck ones.

A checkout's id is derived from (user, Idempotency-Key), and its Step Functions execution is
named after it: a repeated POST finds the same record and cannot start a second execution.
The checkout records are kept by shop.checkout.repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from typing import Any

from botocore.exceptions import ClientError

from shop import aws, breakers, metrics
from shop.cart.service import get_cart, user_owner
from shop.checkout.models import (
    CheckoutRecord,
    CheckoutView,
    FlashSalePurchase,
    SagaError,
    SagaInput,
    StartCheckout,
)
from shop.checkout.repository import CheckoutRepository
from shop.clock import now
from shop.config import checkout_state_machine, checkout_table
from shop.dynamo import error_code
from shop.errors import (
    CartEmpty,
    CheckoutFailed,
    CheckoutNotFound,
    DependencyUnavailable,
    IdempotencyKeyReused,
    ItemUnavailable,
    MixedCurrencies,
    PriceChanged,
    RecoveryExhausted,
    checkout_failure_codes,
)
from shop.flash_sales import service as flash_sales
from shop.money import Money
from shop.orders.models import ERASED, OrderLine, erased_address
from shop.orders.service import order_id_for

STUCK_AFTER_SECONDS = 10 * 60  # longer than any healthy run (3-D Secure waits included)
MAX_RECOVERIES = 3

# The saga's error name -> the checkout's `failure.code`, from the error catalogue.
FAILURE_CODES = checkout_failure_codes()


def checkout_id_for(user_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{user_id}\n{idempotency_key}".encode()).hexdigest()
    return f"co-{digest[:32]}"


def repository() -> CheckoutRepository:
    return CheckoutRepository(checkout_table())


def _read(checkout_id: str) -> dict[str, Any] | None:
    return repository().get(checkout_id)


def _view(record: dict[str, Any]) -> CheckoutView:
    view = CheckoutView.model_validate(record)  # ignores pk, saga_input, pending, ...
    if view.status != "PENDING":
        # The saga recorded the 3-D Secure step on the record; once decided it is history.
        view.next_action = None
    return view


def start_checkout(
    user_id: str, idempotency_key: str, request: StartCheckout, correlation_id: str
) -> CheckoutView:
    checkout_id = checkout_id_for(user_id, idempotency_key)
    existing = _read(checkout_id)
    if existing is None:
        # The saga would hold stock and a flash sale's win only to give them back.
        breakers.refuse_while_open(
            breakers.PAYMENTS, "payments are unavailable for now; nothing was held"
        )
        if request.flash_sale_ticket_id is not None:
            saga = _flash_sale_snapshot(checkout_id, user_id, request, correlation_id)
        else:
            saga = _snapshot(checkout_id, user_id, request, correlation_id)
        existing = repository().create(saga)
    if existing["user_id"] != user_id:  # cannot happen: the id includes the user
        raise CheckoutNotFound("no such checkout")
    _same_request(existing, request)
    if existing["status"] == "PENDING":
        _start_execution(checkout_id, existing["saga_input"], name=checkout_id)
    return _view(existing)


def _same_request(existing: dict[str, Any], request: StartCheckout) -> None:
    """A key reused with another card or address is refused, not answered with the first
    checkout; compared as parsed values, so whitespace or key order make no difference."""
    first = SagaInput.model_validate_json(existing["saga_input"])
    ticket = first.flash_sale.ticket_id if first.flash_sale else None
    if (first.payment_method, first.shipping_address, ticket) != (
        request.payment_method,
        request.shipping_address,
        request.flash_sale_ticket_id,
    ):
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")


def _snapshot(
    checkout_id: str, user_id: str, request: StartCheckout, correlation_id: str
) -> SagaInput:
    cart = get_cart(user_owner(user_id))
    if not cart.lines:
        raise CartEmpty("the cart is empty")
    if cart.degraded:  # last known prices: shown to the shopper, never charged
        raise DependencyUnavailable("the catalog cannot confirm prices now; nothing was held")
    unavailable = [line.sku for line in cart.lines if not line.available]
    if unavailable:
        raise ItemUnavailable("some items are no longer sold", details={"skus": unavailable})
    changed = [line.sku for line in cart.lines if line.price_changed]
    if changed:
        raise PriceChanged(
            "some prices changed since they were added; review the cart",
            details={"skus": changed},
        )
    if len(cart.totals) != 1:
        raise MixedCurrencies("a checkout is paid in one currency")
    return SagaInput(
        checkout_id=checkout_id,
        user_id=user_id,
        lines=[
            OrderLine(
                sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, name=line.name
            )
            for line in cart.lines
        ],
        total=cart.totals[0],
        payment_method=request.payment_method,
        shipping_address=request.shipping_address,
        correlation_id=correlation_id,
    )


def _flash_sale_snapshot(
    checkout_id: str, user_id: str, request: StartCheckout, correlation_id: str
) -> SagaInput:
    """A won ticket's units at the sale price, taken from the sale's hold: claimed by this
    checkout first, so that two checkouts cannot buy one win."""
    assert request.flash_sale_ticket_id is not None
    sale, ticket = flash_sales.claim_for_checkout(
        request.flash_sale_ticket_id, user_id, checkout_id
    )
    price = Money.model_validate(sale["price"])
    quantity = int(ticket["quantity"])
    return SagaInput(
        checkout_id=checkout_id,
        user_id=user_id,
        lines=[
            OrderLine(
                sku=sale["sku"], name=sale.get("name", ""), quantity=quantity, unit_price=price
            )
        ],
        total=Money(amount=price.amount * quantity, currency=price.currency),
        payment_method=request.payment_method,
        shipping_address=request.shipping_address,
        correlation_id=correlation_id,
        flash_sale=FlashSalePurchase(sale_id=sale["sale_id"], ticket_id=ticket["ticket_id"]),
        from_hold=sale["hold_id"],
    )


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
        raise CheckoutNotFound(f"no checkout {checkout_id}")
    return _view(record)


def record_outcome(checkout_id: str, error: SagaError | None) -> CheckoutView:
    """The saga's last step: SUCCEEDED with the order, or FAILED with a code. The first outcome
    recorded wins; recording it again changes nothing."""
    outcome: dict[str, Any]
    if error is None:
        outcome = {"status": "SUCCEEDED", "order_id": order_id_for(checkout_id)}
    else:
        cause = error.cause
        with contextlib.suppress(ValueError, AttributeError):  # Lambda errors' Cause is JSON
            cause = str(json.loads(cause).get("errorMessage", cause))
        code = FAILURE_CODES.get(error.name, CheckoutFailed.code)
        outcome = {
            "status": "FAILED",
            "failure": {"code": code, "message": cause[:500] or error.name},
        }
    record, recorded_now = repository().finish(checkout_id, outcome)
    if record is None:
        raise CheckoutNotFound(f"no checkout {checkout_id}")
    if recorded_now:  # counted once, however often the step runs
        if record["status"] == "SUCCEEDED":
            metrics.count("OrdersPlaced")
        else:
            metrics.count("CheckoutFailed", failure_code=record["failure"]["code"])
    saga = SagaInput.model_validate_json(record["saga_input"])
    if saga.flash_sale is not None:  # the ticket learns the outcome recorded first
        succeeded = record["status"] == "SUCCEEDED"
        flash_sales.checkout_finished(
            saga.flash_sale.ticket_id, checkout_id, record.get("order_id") if succeeded else None
        )
    return _view(record)


def recover_stuck() -> list[str]:
    """Find checkouts PENDING for too long whose execution is not running, and run the saga
    again under a new execution name: every step is idempotent, so it finishes what was done
    or compensates it. After MAX_RECOVERIES, run compensation only."""
    sfn = aws.client("stepfunctions")
    repo = repository()
    resumed = []
    for record in repo.stuck(math.floor(now() - STUCK_AFTER_SECONDS), limit=50):
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
        # Claim this recovery attempt, so two sweeps cannot both start one.
        if not repo.claim_recovery(checkout_id, attempt):
            continue
        saga = json.loads(record["saga_input"])
        if attempt + 1 >= MAX_RECOVERIES:
            saga["compensate_only"] = True
            saga["error"] = {
                "Error": RecoveryExhausted.__name__,
                "Cause": "the checkout kept stalling",
            }
        _start_execution(checkout_id, json.dumps(saga), name=f"{checkout_id}-r{attempt + 1}")
        resumed.append(checkout_id)
    return resumed


# ----------------------------------------------------------------------------- data protection
def checkouts_of(user_id: str) -> list[CheckoutRecord]:
    """Every checkout of the shopper, with the address its snapshot holds, oldest first."""
    records = []
    for record in repository().of_user(user_id):
        saga = SagaInput.model_validate_json(record["saga_input"])
        records.append(
            CheckoutRecord.model_validate({**record, "shipping_address": saga.shipping_address})
        )
    return records


def in_progress(user_id: str) -> list[str]:
    """The shopper's checkouts still PENDING: their sagas read the address."""
    return [r["checkout_id"] for r in repository().of_user(user_id) if r["status"] == "PENDING"]


def erase_checkouts(user_id: str, at: str) -> int:
    """Every finished checkout of the shopper kept without their address and payment method
    (an erasure): how many were rewritten. A repeat rewrites them to the same."""
    erased = 0
    for record in repository().of_user(user_id):
        if record["status"] == "PENDING":
            continue  # refused before erasing (shop.account.service); never changed mid-saga
        saga = SagaInput.model_validate_json(record["saga_input"])
        blank = saga.model_copy(
            update={
                "shipping_address": erased_address(saga.shipping_address.country),
                "payment_method": ERASED,
            }
        )
        repository().erase_address(record["checkout_id"], json.dumps(blank.model_dump()), at)
        erased += 1
    return erased
