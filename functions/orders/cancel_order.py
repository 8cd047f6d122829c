"""Saga compensation: cancel the checkout's order, if one was created (idempotent)."""

from typing import Any

from shop.checkout.models import SagaStep
from shop.orders.service import cancel, order_id_for
from shop.tasks import task_handler, task_input


@task_handler("orders")
def handler(event: dict[str, Any]) -> Any:
    step = task_input(SagaStep, event)
    reason = step.error.name if step.error else "checkout failed"
    order = cancel(order_id_for(step.checkout_id), f"checkout failed: {reason}")
    return {"status": order.status if order else None}
