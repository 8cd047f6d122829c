"""Saga compensation: cancel an uncaptured payment or refund a captured one, in full."""

from typing import Any

from shop.payments.service import cancel_or_refund
from shop.tasks import task_handler


@task_handler("payments")
def handler(event: dict[str, Any]) -> Any:
    return cancel_or_refund(str(event["checkout_id"]))
