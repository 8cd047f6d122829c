"""What to tell a customer when their order is placed or cancelled.

Recording the notification is the consumer's effect; delivering it (email, push) is a channel
behind this record, added without touching the order flow."""

from __future__ import annotations

from shop.config import notifications_table
from shop.events import DomainEvent
from shop.money import Money
from shop.notifications.models import (
    ListNotificationsQuery,
    Notification,
    NotificationKind,
    NotificationPage,
)
from shop.notifications.repository import NotificationsRepository
from shop.orders.events import OrderCancelled, OrderPlaced
from shop.orders.models import Order, OrderLine, ShippingAddress


def repository() -> NotificationsRepository:
    return NotificationsRepository(notifications_table())


def _price(money: Money) -> str:
    return f"{money.amount / 100:.2f} {money.currency}"


def _notify(
    event: DomainEvent[OrderPlaced] | DomainEvent[OrderCancelled],
    kind: NotificationKind,
    subject: str,
    message: str,
) -> bool:
    """Record the notification of one event: its id is the event's, so a repeat is a no-op."""
    return repository().record(
        Notification(
            notification_id=event.event_id,
            user_id=event.data.user_id,
            kind=kind,
            order_id=event.data.order_id,
            subject=subject,
            message=message,
            created_at=event.occurred_at,
        )
    )


def confirmation_message(
    lines: list[OrderLine], total: Money, address: ShippingAddress | None
) -> str:
    """What an order's confirmation says; without an address (an erased customer's), it
    names neither them nor where the goods went."""
    units = sum(line.quantity for line in lines)
    if address is None:
        return f"Thank you: {units} item(s), {_price(total)}."
    return (
        f"Thank you, {address.name}: {units} item(s), {_price(total)}, "
        f"on their way to {address.city} soon."
    )


def confirm_order(event: DomainEvent[OrderPlaced]) -> bool:
    order = event.data
    return _notify(
        event,
        "order_confirmation",
        f"Order {order.order_id} is confirmed",
        confirmation_message(order.lines, order.total, order.shipping_address),
    )


def report_cancellation(event: DomainEvent[OrderCancelled]) -> bool:
    order = event.data
    return _notify(
        event,
        "order_cancellation",
        f"Order {order.order_id} is cancelled",
        f"Your order is cancelled; {_price(order.total)} is refunded to your card.",
    )


def list_notifications(user_id: str, query: ListNotificationsQuery) -> NotificationPage:
    return repository().page(user_id, query.cursor, query.limit)


def notifications_of(user_id: str) -> list[Notification]:
    return repository().all_of(user_id)


def erase_names(user_id: str, orders: dict[str, Order]) -> int:
    """The customer's notifications kept without their name and city (an erasure): each
    confirmation reworded from its order, the rest unchanged. How many were reworded."""
    reworded = 0
    for note in repository().all_of(user_id):
        order = orders.get(note.order_id)
        if note.kind != "order_confirmation" or order is None:
            continue
        message = confirmation_message(order.lines, order.total, None)
        if note.message != message:
            repository().reword(note, message)
            reworded += 1
    return reworded
