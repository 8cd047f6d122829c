"""Checkout sessions: what the shopper sends and what they see."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shop.errors import CheckoutFailed, checkout_failure_codes
from shop.flash_sales.models import TicketId
from shop.money import Money
from shop.orders.models import OrderLine, ShippingAddress

CheckoutStatus = Literal["PENDING", "SUCCEEDED", "FAILED"]


class StartCheckout(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,100}$")]
    shipping_address: ShippingAddress
    flash_sale_ticket_id: Annotated[
        TicketId | None,
        Field(description="a won flash sale ticket: its units at the sale price, not the cart"),
    ] = None


def _failure_codes(schema: dict[str, Any]) -> None:
    """The API document lists the codes a checkout can fail with (from the error catalogue)."""
    schema["enum"] = sorted({*checkout_failure_codes().values(), CheckoutFailed.code})


class Failure(BaseModel):
    code: Annotated[str, Field(json_schema_extra=_failure_codes)]
    message: str


class NextAction(BaseModel):
    """The customer's 3-D Secure step, for Stripe.js: handleNextAction({clientSecret})."""

    type: Literal["use_stripe_sdk"] = "use_stripe_sdk"
    payment_intent_id: str
    client_secret: str


class CheckoutView(BaseModel):
    checkout_id: str
    status: CheckoutStatus
    order_id: str | None = None
    failure: Failure | None = None
    # Only while PENDING and the payment awaits the customer (3-D Secure).
    next_action: NextAction | None = None
    total: Money
    lines: list[OrderLine]
    created_at: str
    updated_at: str


class CheckoutRecord(CheckoutView):
    """A checkout as the shop keeps it, the snapshot's address included (an account export)."""

    shipping_address: ShippingAddress
    erased_at: str | None = None


class FlashSalePurchase(BaseModel):
    """The won ticket a checkout buys."""

    sale_id: str
    ticket_id: str


class SagaInput(BaseModel):
    """The state machine's input: the checkout's snapshot, nothing read later can change it."""

    checkout_id: str
    user_id: str
    lines: list[OrderLine]
    total: Money
    payment_method: str
    shipping_address: ShippingAddress
    correlation_id: str = ""
    hold_seconds: int = 1800
    flash_sale: FlashSalePurchase | None = None
    from_hold: str | None = None  # the reservation the stock is taken from (a sale's units)


class SagaError(BaseModel):
    """What a Catch puts at `$.error`: the error's name (a `ShopError`'s class name, or Step
    Functions' own such as States.Timeout) and its cause (JSON, for a Lambda's error)."""

    name: str = Field("", alias="Error")
    cause: str = Field("", alias="Cause")

    @field_validator("cause", mode="before")
    @classmethod
    def _no_cause(cls, value: object) -> object:
        # SendTaskFailure's cause is optional: a task failed with none (a refused 3-D Secure
        # resumed by the webhook, as moto reports it) has `"Cause": null`, not a string.
        return "" if value is None else value


class SagaStep(BaseModel):
    """The input of a step that needs only the checkout (and, in compensation, the error)."""

    checkout_id: Annotated[str, StringConstraints(min_length=1)]
    error: SagaError | None = None


class PaymentActionWait(BaseModel):
    """AwaitCustomerAction's input: the checkout, and the task token that resumes the saga."""

    checkout_id: Annotated[str, StringConstraints(min_length=1)]
    task_token: Annotated[str, StringConstraints(min_length=1)]


class CheckoutAccepted(BaseModel):
    """The checkout has started: poll GET /checkout/{checkout_id} for its outcome."""

    checkout_id: str
    status: CheckoutStatus
