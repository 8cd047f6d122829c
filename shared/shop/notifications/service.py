"""What to tell a customer when their order is placed or cancelled.

Recording the notification is the consumer's effect; delivering it (email, push) is a channel
behind this record, added without touching the order flow."""

from __future__ import annotations

from shop.config import notifications_table
from shop.events import DomainEvent
from shop.money import Money
from shop.notifications.models import ListNotificationsQuery, Notification, NotificationPage
from shop.notifications.repository import NotificationsRepository
from shop.orders.events import OrderCancelled, OrderPlaced


def repository() -> NotificationsRepository:
    return NotificationsRepository(notifications_table())


def _price(money: Money) -> str:
    return f"{money.amount / 100:.2f} {money.currency}"


def confirm_order(event: DomainEvent[OrderPlaced]) -> bool:
    order = event.data
    units = sum(line.quantity for line in order.lines)
    return repository().record(
        Notification(
            notification_id=event.event_id,
            user_id=order.user_id,
            kind="order_confirmation",
            order_id=order.order_id,
            subject=f"Order {order.order_id} is confirmed",
            message=(
                f"Thank you, {order.shipping_address.name}: {units} item(s), "
                f"{_price(order.total)}, on their way to {order.shipping_address.city} soon."
            ),
            created_at=event.occurred_at,
        )
    )


def report_cancellation(event: DomainEvent[OrderCancelled]) -> bool:
    order = event.data
    return repository().record(
        Notification(
            notification_id=event.event_id,
            user_id=order.user_id,
            kind="order_cancellation",
            order_id=order.order_id,
            subject=f"Order {order.order_id} is cancelled",
            message=f"Your order is cancelled; {_price(order.total)} is refunded to your card.",
            created_at=event.occurred_at,
        )
    )


def list_notifications(user_id: str, query: ListNotificationsQuery) -> NotificationPage:
    return repository().page(user_id, query.cursor, query.limit)
