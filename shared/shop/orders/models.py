"""Orders as the owner sees them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop.fulfillment.models import Cancellation, Return, Shipment
from shop.money import Money

# PENDING and PLACED are the checkout's; the statuses after PLACED are fulfillment's, derived
# from the order's shipments and returns (shop.fulfillment.rules.order_status).
OrderStatus = Literal[
    "PENDING",
    "PLACED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
    "PARTIALLY_RETURNED",
    "RETURNED",
]


class ShippingAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    line1: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] = ""
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


ERASED = "erased"  # what stands in for a personal field of an erased shopper


def erased_address(country: str) -> ShippingAddress:
    """The address an erased shopper's order keeps: nothing of theirs but the country, which
    the books need (VAT is due where the goods went)."""
    return ShippingAddress(
        name=ERASED, line1=ERASED, city=ERASED, postal_code=ERASED, country=country
    )


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str
    quantity: Annotated[int, Field(ge=1)]
    unit_price: Money
    # What the shopper saw in the cart (or the sale), kept so that an order reads the same
    # after the catalog renames or archives the product (empty on orders from before lines
    # kept it).
    name: str = Field(default="", max_length=500, description="the product's name when bought")


class HistoryEntry(BaseModel):
    status: OrderStatus
    at: str
    note: str = ""


class Order(BaseModel):
    order_id: str
    checkout_id: str
    user_id: str
    status: OrderStatus
    lines: list[OrderLine]
    total: Money
    shipping_address: ShippingAddress
    history: list[HistoryEntry]
    created_at: str
    updated_at: str
    shipments: list[Shipment] = []
    returns: list[Return] = []
    cancellations: list[Cancellation] = []
    # Set when the shopper erased their account: the order is kept for the books, its
    # shipping address replaced by ERASED_ADDRESS (the country kept, for tax).
    erased_at: str | None = None


class OrderPage(BaseModel):
    items: list[Order]
    cursor: str | None  # pass back to get the next page; None on the last
