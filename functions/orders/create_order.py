"""Saga task: create the order, PENDING, from the checkout's snapshot, after checking that
every price is still the catalog's (else PriceChanged) and every item still sold; a flash
sale's won ticket is bought at the sale's price."""

from typing import Any

from shop.checkout.models import SagaInput
from shop.orders.service import create_pending
from shop.tasks import task_handler, task_input


@task_handler("orders")
def handler(event: dict[str, Any]) -> Any:
    saga = task_input(SagaInput, event)
    order = create_pending(
        saga.checkout_id,
        saga.user_id,
        saga.lines,
        saga.total,
        saga.shipping_address,
        saga.correlation_id,
        at_sale_price=saga.flash_sale is not None,
    )
    return {"order_id": order.order_id, "status": order.status}
