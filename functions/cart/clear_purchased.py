"""Saga task: take the purchased quantities off the buyer's cart, once per checkout."""

from typing import Any

from shop.cart.service import remove_purchased, user_owner
from shop.checkout.models import SagaInput
from shop.tasks import task_handler, task_input


@task_handler("cart")
def handler(event: dict[str, Any]) -> Any:
    saga = task_input(SagaInput, event)
    if saga.flash_sale is not None:  # a won ticket's purchase never was in the cart
        return {"lines_left": None}
    left = remove_purchased(
        user_owner(saga.user_id), {line.sku: line.quantity for line in saga.lines}
    )
    return {"lines_left": left}
