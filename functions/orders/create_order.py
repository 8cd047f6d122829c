"""Saga task: create the order, PENDING, from the checkout's snapshot, after checking that
every price is still the catalog's (else PriceChanged) and every item still sold."""

from typing import Any

from shop.catalog.service import get_skus
from shop.checkout.models import SagaInput
from shop.errors import ItemUnavailable, PriceChanged
from shop.orders.service import create_pending
from shop.tasks import task_handler, task_input


@task_handler("orders")
def handler(event: dict[str, Any]) -> Any:
    saga = task_input(SagaInput, event)
    catalog = get_skus([line.sku for line in saga.lines])
    for line in saga.lines:
        record = catalog.get(line.sku)
        if record is None or not record.sellable:
            raise ItemUnavailable(f"{line.sku} is no longer sold")
        if record.price != line.unit_price:
            raise PriceChanged(f"the price of {line.sku} changed during checkout")
    order = create_pending(
        saga.checkout_id,
        saga.user_id,
        saga.lines,
        saga.total,
        saga.shipping_address,
        saga.correlation_id,
    )
    return {"order_id": order.order_id, "status": order.status}
