"""Saga compensation: cancel the checkout's order, if one was created (idempotent)."""

from typing import Any

from shop.orders.service import cancel, order_id_for
from shop.tasks import task_handler


@task_handler("orders")
def handler(event: dict[str, Any]) -> Any:
    reason = str((event.get("error") or {}).get("Error", "checkout failed"))
    order = cancel(order_id_for(str(event["checkout_id"])), f"checkout failed: {reason}")
    return {"status": order.status if order else None}
