"""Saga compensation: cancel an uncaptured payment or refund a captured one, in full."""

from typing import Any

from shop.checkout.models import SagaStep
from shop.payments.service import cancel_or_refund
from shop.tasks import task_handler, task_input


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    return cancel_or_refund(task_input(SagaStep, event).checkout_id)
