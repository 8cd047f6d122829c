"""Saga's last step (both ways): the checkout SUCCEEDED with its order, or FAILED with a code."""

from typing import Any

from shop.checkout.service import record_outcome
from shop.tasks import task_handler


@task_handler("checkout")
def handler(event: dict[str, Any]) -> Any:
    return record_outcome(str(event["checkout_id"]), event.get("error")).model_dump()
