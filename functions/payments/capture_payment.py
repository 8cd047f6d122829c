"""Saga task: capture the authorized payment (idempotent: checks the intent's state first)."""

from typing import Any

from shop.payments.service import capture
from shop.tasks import task_handler


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    return capture(str(event["checkout_id"]))
