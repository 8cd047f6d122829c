"""Saga task (waitForTaskToken): park until the Stripe webhook reports 3-D Secure's outcome."""

from typing import Any

from shop.checkout.models import PaymentActionWait
from shop.payments.service import await_action
from shop.tasks import task_handler, task_input


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    wait = task_input(PaymentActionWait, event)
    await_action(wait.checkout_id, wait.task_token)
    return {"waiting": True}
