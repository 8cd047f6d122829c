"""Refund state machine's Catch: a step failed past its retries; the claim waits, saying why."""

from typing import Any

from shop.fulfillment.models import ClaimStep
from shop.fulfillment.service import stall_claim
from shop.tasks import task_handler, task_input


@task_handler("fulfillment")
def handler(event: dict[str, Any]) -> Any:
    step = task_input(ClaimStep, event)
    error = step.error or {}
    return stall_claim(
        step.order_id, step.claim_id, error.get("Error", "unknown"), error.get("Cause", "")
    )
