"""A shopper's data: all of it, exported; or the account erased.

The export reads every store that keeps something of the shopper, each through its own
service's module. The erasure (docs/privacy.md) deletes what the shop keeps for the shopper
only (their cart, their recommendation history), keeps what the books need (orders,
checkouts, payments, shipments, returns, notifications, flash sale tickets) without their
personal fields, and deletes the user from the user pool last.

Every step is idempotent and none depends on a marker written by an earlier one, so an
erasure that died midway is finished by running it again; the user is deleted last, so the
shopper can still sign in to retry while anything is left.
"""

from __future__ import annotations

from typing import Any

from shop import faults
from shop.account import user_pool
from shop.account.models import (
    AccountErased,
    AccountExport,
    Basket,
    PaymentRecord,
    Profile,
    RecommendationActivity,
    Sighting,
    StoredCartLine,
)
from shop.cart import service as cart
from shop.checkout import service as checkout
from shop.clock import iso_now
from shop.config import payments_table, recommendations_table
from shop.errors import ErasureBlocked
from shop.flash_sales import service as flash_sales
from shop.fulfillment.service import with_fulfillment
from shop.money import Money
from shop.notifications import service as notifications
from shop.orders import service as orders
from shop.orders.models import Order
from shop.payments.repository import PaymentsRepository
from shop.recommendations.repository import ShopperActivity

# An order in these statuses still needs its address: its parcels have not all arrived.
ON_ITS_WAY = frozenset({"PENDING", "PLACED", "PARTIALLY_SHIPPED", "SHIPPED"})


def _activity() -> ShopperActivity:
    return ShopperActivity(recommendations_table())


def _orders_of(user_id: str) -> list[Order]:
    return [with_fulfillment(order) for order in orders.orders_of(user_id)]


# ----------------------------------------------------------------------------- export
def export(user_id: str, claims: dict[str, str]) -> AccountExport:
    """Everything the shop holds about the shopper. `claims` are their token's (the profile
    when the user pool has no such user)."""
    attributes = user_pool.attributes(user_id)
    profile = Profile(
        email=(attributes or {}).get("email") or claims.get("email"),
        username=claims.get("cognito:username"),
        user_pool_attributes=attributes,
    )
    checkouts = checkout.checkouts_of(user_id)
    payments = PaymentsRepository(payments_table())
    paid = [payments.get(c.checkout_id) for c in checkouts]
    activity = _activity().everything_of(user_id)
    return AccountExport(
        user_id=user_id,
        exported_at=iso_now(),
        profile=profile,
        cart=[StoredCartLine.model_validate(line) for line in cart.stored_lines(user_id)],
        checkouts=checkouts,
        orders=_orders_of(user_id),
        payments=[_payment(record) for record in paid if record is not None],
        notifications=notifications.notifications_of(user_id),
        flash_sale_tickets=flash_sales.tickets_of(user_id),
        recommendation_activity=RecommendationActivity(
            baskets=[
                Basket.model_validate(item)
                for item in activity
                if str(item["sk"]).startswith("BASKET#")
            ],
            seen=[
                Sighting.model_validate(item)
                for item in activity
                if str(item["sk"]).startswith("SEEN#")
            ],
        ),
    )


def _payment(record: dict[str, Any]) -> PaymentRecord:
    return PaymentRecord(
        checkout_id=str(record["checkout_id"]),
        status=str(record["status"]),
        amount=Money(amount=int(record["amount"]), currency=str(record["currency"])),
        refunded=int(record.get("refunded", 0)),
    )


# ----------------------------------------------------------------------------- erasure
def erase(user_id: str) -> AccountErased:
    """Erase the shopper's account. Refused (ErasureBlocked, nothing changed) while a checkout
    is in progress or an order is still on its way: its saga and its carrier need the
    address. Safe to run again after a failure at any point."""
    pending = checkout.in_progress(user_id)
    kept = _orders_of(user_id)
    travelling = [o.order_id for o in kept if o.status in ON_ITS_WAY]
    if pending or travelling:
        raise ErasureBlocked(
            "the account has a checkout in progress or an order on its way: erase it once "
            "the order is delivered or cancelled",
            details={"checkouts": pending, "orders": travelling},
        )
    at = iso_now()
    for order in kept:
        orders.erase_address(order, at)
    checkouts_kept = checkout.erase_checkouts(user_id, at)
    reworded = notifications.erase_names(user_id, {o.order_id: o for o in kept})
    faults.before("erase_account")  # tests: the erasure dies here, half done
    cart_items = cart.forget_cart(user_id)
    activity = _activity().forget_shopper(user_id)
    deleted = user_pool.delete_user(user_id)  # last: until here, the shopper can retry
    return AccountErased(
        user_id=user_id,
        erased_at=at,
        orders_kept=len(kept),
        checkouts_kept=checkouts_kept,
        notifications_reworded=reworded,
        cart_items_deleted=cart_items,
        activity_deleted=activity,
        user_pool="deleted" if deleted else "absent",
    )
