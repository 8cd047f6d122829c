"""Saga task: hold stock for a checkout's lines, all or nothing (raises OutOfStock)."""

from typing import Any

from shop.inventory.models import ReserveRequest
from shop.inventory.service import reserve
from shop.tasks import task_handler, task_input


def _demand(line: Any) -> Any:
    # The saga's lines also carry their price; a reservation needs only what and how many.
    return (
        {k: line[k] for k in ("sku", "quantity") if k in line} if isinstance(line, dict) else line
    )


@task_handler("inventory")
def handler(event: dict[str, Any]) -> Any:
    lines = event.get("lines")
    request = (
        {**event, "lines": [_demand(line) for line in lines]} if isinstance(lines, list) else event
    )
    return reserve(task_input(ReserveRequest, request))
