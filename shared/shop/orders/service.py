"""Orders: created PENDING by the saga, then PLACED or CANCELLED, each change appended to the
order's history under a condition on its current status (so a retried step changes nothing).
The DynamoDB side is shop.orders.repository."""

from __future__ import annotations

from typing import Any

from shop.catalog.service import get_skus
from shop.clock import iso_now
from shop.config import orders_table
from shop.errors import ItemUnavailable, OrderNotFound, OrderStateConflict, PriceChanged
from shop.orders.models import (
    HistoryEntry,
    Order,
    OrderLine,
    OrderStatus,
    ShippingAddress,
    erased_address,
)
from shop.orders.repository import OrdersRepository


def repository() -> OrdersRepository:
    return OrdersRepository(orders_table())


def order_id_for(checkout_id: str) -> str:
    return f"ord-{checkout_id.removeprefix('co-')}"


def confirm_prices(lines: list[OrderLine]) -> None:
    """Every line is still sold, at the price the shopper saw (else ItemUnavailable or
    PriceChanged): an order is only ever made at the catalog's prices."""
    catalog = get_skus([line.sku for line in lines])
    for line in lines:
        record = catalog.get(line.sku)
        if record is None or not record.sellable:
            raise ItemUnavailable(f"{line.sku} is no longer sold")
        if record.price != line.unit_price:
            raise PriceChanged(f"the price of {line.sku} changed during checkout")


def create_pending(
    checkout_id: str,
    user_id: str,
    lines: list[OrderLine],
    total: Any,
    shipping_address: ShippingAddress,
    correlation_id: str,
    *,
    at_sale_price: bool = False,
) -> Order:
    """The checkout's order, PENDING, after `confirm_prices` (unless its lines are at a flash
    sale's price, which the sale fixed); the one an earlier attempt of this step created, if
    there is one."""
    if not at_sale_price:
        confirm_prices(lines)
    now = iso_now()
    order = Order(
        order_id=order_id_for(checkout_id),
        checkout_id=checkout_id,
        user_id=user_id,
        status="PENDING",
        lines=lines,
        total=total,
        shipping_address=shipping_address,
        history=[HistoryEntry(status="PENDING", at=now, note="checkout started")],
        created_at=now,
        updated_at=now,
    )
    if not repository().create(order, correlation_id):
        return get_order(order.order_id)  # created by an earlier attempt of this step
    return order


def get_order(order_id: str, *, owner: str | None = None) -> Order:
    order = repository().get(order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id}")
    if owner is not None and order.user_id != owner:
        raise OrderNotFound(f"no order {order_id}")  # never reveal others'
    return order


def _transition(order_id: str, to: OrderStatus, allowed_from: tuple[str, ...], note: str) -> Order:
    current = get_order(order_id)
    if current.status == to:
        return current
    if current.status not in allowed_from:
        raise OrderStateConflict(f"order {order_id} is {current.status}")
    # A concurrent change that won leaves the order as it made it: that is the answer then.
    after = repository().move(
        order_id, current.status, HistoryEntry(status=to, at=iso_now(), note=note)
    )
    if after is None:
        raise OrderNotFound(f"no order {order_id}")
    return after


def mark_placed(order_id: str) -> Order:
    return _transition(order_id, "PLACED", ("PENDING",), "payment captured, stock committed")


def cancel(order_id: str, reason: str) -> Order | None:
    try:
        return _transition(order_id, "CANCELLED", ("PENDING", "PLACED"), reason)
    except OrderNotFound:
        return None  # the saga failed before the order existed


def list_orders(user_id: str, cursor: str | None, limit: int) -> tuple[list[Order], str | None]:
    return repository().page_of_user(user_id, cursor, limit)


def orders_of(user_id: str) -> list[Order]:
    """Every order of the user, newest first."""
    return repository().all_of_user(user_id)


def erase_address(order: Order, at: str) -> None:
    """Keep the order for the books without its shopper's address."""
    repository().erase_address(order.order_id, erased_address(order.shipping_address.country), at)
