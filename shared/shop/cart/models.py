"""Cart shapes at the edge and in the service."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop.catalog.models import Sku
from shop.money import Money

MAX_LINE_QUANTITY = 99
MAX_LINES = 100
GUEST_IDLE_SECONDS = 30 * 24 * 3600

Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]


class AddItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: Sku
    quantity: Quantity


class SetQuantity(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    quantity: Quantity


class MergeGuestCart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cart_token: Annotated[str, StringConstraints(min_length=20, max_length=200)]


class CartLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Money  # the price when it was added
    current_price: Money | None  # what the catalog says now (None: the SKU is gone)
    price_changed: bool
    available: bool  # the SKU still exists and is active


class LineChange(BaseModel):
    """What a change did: cheap to answer (no re-pricing); GET the cart for the full view."""

    sku: str
    quantity: int  # 0 when the line is gone
    line_count: int


class Cart(BaseModel):
    lines: list[CartLine]
    line_count: int
    item_count: int
    totals: list[Money]  # at current prices, of available lines, one per currency
    needs_review: bool  # some line changed price or became unavailable since it was added
    updated_at: str | None
    # The catalog is unavailable: current prices and availability are the last known ones,
    # `price_age_seconds` old (the oldest of them); a checkout waits until they are current.
    degraded: bool = False
    price_age_seconds: int | None = None


class GuestCartCreated(BaseModel):
    """A new guest cart: keep `cart_token` and send it as X-Cart-Token (it is shown once)."""

    cart_token: str
    cart: Cart
