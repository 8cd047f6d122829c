"""OrderPlaced (from the FulfillmentOrdersQueue) -> the order's shipments, one per warehouse."""

from shop.consumers import event_consumer
from shop.events import DomainEvent
from shop.fulfillment.service import plan_shipments
from shop.orders.events import OrderPlaced


def on_order_placed(event: DomainEvent[OrderPlaced]) -> None:
    order = event.data
    plan_shipments(
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        user_id=order.user_id,
        lines=order.lines,
        total=order.total,
        correlation_id=event.correlation_id,
    )


handler = event_consumer("plan_shipments", {OrderPlaced: on_order_placed})
