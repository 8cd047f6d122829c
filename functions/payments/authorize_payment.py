"""Saga task: authorize the total on the customer's card (manual capture)."""

from typing import Any

from shop.checkout.models import SagaInput
from shop.payments.service import authorize
from shop.tasks import task_handler, task_input


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    saga = task_input(SagaInput, event)
    return authorize(saga.checkout_id, saga.total, saga.payment_method)
