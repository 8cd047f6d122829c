"""Refund state machine task: refund a claim (a cancellation or a received return)."""

from typing import Any

from shop.fulfillment.models import ClaimStep
from shop.fulfillment.service import refund_claim
from shop.tasks import task_handler, task_input


@task_handler("fulfillment")
def handler(event: dict[str, Any]) -> Any:
    step = task_input(ClaimStep, event)
    return refund_claim(step.order_id, step.claim_id)
