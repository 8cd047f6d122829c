"""Saga task: hold stock for a checkout's lines, all or nothing (raises OutOfStock)."""

from typing import Any

from shop.inventory.models import ReserveStep
from shop.inventory.service import reserve
from shop.tasks import task_handler, task_input


@task_handler("inventory")
def handler(event: dict[str, Any]) -> Any:
    return reserve(task_input(ReserveStep, event))
