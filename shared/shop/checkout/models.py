"""Checkout sessions: what the shopper sends and what they see."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shop.money import Money
from shop.orders.models import OrderLine, ShippingAddress

CheckoutStatus = Literal["PENDING", "SUCCEEDED", "FAILED"]


class StartCheckout(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,100}$")]
    shipping_address: ShippingAddress


class Failure(BaseModel):
    code: str
    message: str


class CheckoutView(BaseModel):
    checkout_id: str
    status: CheckoutStatus
    order_id: str | None = None
    failure: Failure | None = None
    total: Money
    lines: list[OrderLine]
    created_at: str
    updated_at: str


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
