"""Saga task: the order is PLACED (paid and stock committed). Its stream announces OrderPlaced."""

from typing import Any

from shop.checkout.models import SagaStep
from shop.orders.service import mark_placed, order_id_for
from shop.tasks import task_handler, task_input


@task_handler("orders")
def handler(event: dict[str, Any]) -> Any:
    order = mark_placed(order_id_for(task_input(SagaStep, event).checkout_id))
    return {"order_id": order.order_id, "status": order.status}
