"""Saga task: capture the authorized payment (idempotent: checks the intent's state first)."""

from typing import Any

from shop.checkout.models import SagaStep
from shop.payments.service import capture
from shop.tasks import task_handler, task_input


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    return capture(task_input(SagaStep, event).checkout_id)
