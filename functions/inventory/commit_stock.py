"""Saga task: the sale happened, reserved stock leaves the warehouse (idempotent)."""

from typing import Any

from shop.inventory.models import CheckoutRef
from shop.inventory.service import commit
from shop.tasks import task_handler, task_input


@task_handler("inventory")
def handler(event: dict[str, Any]) -> Any:
    return commit(task_input(CheckoutRef, event).checkout_id)
