"""What an account export holds and what an erasure answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shop.checkout.models import CheckoutRecord
from shop.flash_sales.models import TicketView
from shop.money import Money
from shop.notifications.models import Notification
from shop.orders.models import Order


class Profile(BaseModel):
    email: str | None = Field(None, description="as the user pool has it, else as the token says")
    username: str | None = None
    user_pool_attributes: dict[str, str] | None = Field(
        None, description="the user's attributes in the user pool; null when it has no such user"
    )


class StoredCartLine(BaseModel):
    sku: str
    quantity: int
    unit_price: Money = Field(description="the price when it was added")
    added_at: str | None = None


class PaymentRecord(BaseModel):
    checkout_id: str
    status: str
    amount: Money
    refunded: int = Field(0, description="minor units given back so far")


class Basket(BaseModel):
    order_id: str
    at: str
    products: list[str]


class Sighting(BaseModel):
    product_id: str
    at: str
    kind: Literal["view", "cart"]


class RecommendationActivity(BaseModel):
    """What recommendations learnt from the shopper: their baskets and what they looked at."""

    baskets: list[Basket]
    seen: list[Sighting]


class AccountExport(BaseModel):
    """Everything the shop holds about the signed-in shopper (docs/privacy.md)."""

    user_id: str
    exported_at: str
    profile: Profile
    cart: list[StoredCartLine]
    checkouts: list[CheckoutRecord]
    orders: list[Order] = Field(description="with their shipments, returns and cancellations")
    payments: list[PaymentRecord]
    notifications: list[Notification]
    flash_sale_tickets: list[TicketView]
    recommendation_activity: RecommendationActivity


class AccountErased(BaseModel):
    """What an erasure did. A repeat finds nothing left to do: its counts are 0, the same
    orders and checkouts are kept."""

    user_id: str
    erased_at: str
    orders_kept: int = Field(description="orders kept for the books, without their address")
    checkouts_kept: int
    notifications_reworded: int
    cart_items_deleted: int
    activity_deleted: int = Field(description="recommendation history and views deleted")
    user_pool: Literal["deleted", "absent"] = Field(
        description="`absent`: the user pool had no such user (already deleted)"
    )
