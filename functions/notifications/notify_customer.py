"""Order events (from the OrderNotificationsQueue) -> the customer's notifications."""

from shop.consumers import event_consumer
from shop.notifications.service import confirm_order, report_cancellation
from shop.orders.events import OrderCancelled, OrderPlaced

handler = event_consumer(
    "notify_customer",
    {OrderPlaced: confirm_order, OrderCancelled: report_cancellation},
)
