"""Saga task (waitForTaskToken): park until the Stripe webhook reports 3-D Secure's outcome."""

from typing import Any

from shop.payments.service import await_action
from shop.tasks import task_handler


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    await_action(str(event["checkout_id"]), str(event["task_token"]))
    return {"waiting": True}
