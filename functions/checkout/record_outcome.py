"""Saga's last step (both ways): the checkout SUCCEEDED with its order, or FAILED with a code."""

from typing import Any

from shop.checkout.models import SagaStep
from shop.checkout.service import record_outcome
from shop.tasks import task_handler, task_input


@task_handler("checkout")
def handler(event: dict[str, Any]) -> Any:
    step = task_input(SagaStep, event)
    return record_outcome(step.checkout_id, step.error).model_dump()
