"""Saga compensation: give a checkout's held stock back (idempotent; a no-op if none held)."""

from typing import Any

from shop.inventory.models import CheckoutRef
from shop.inventory.service import release
from shop.tasks import task_handler, task_input


@task_handler("inventory")
def handler(event: dict[str, Any]) -> Any:
    reservation = release(task_input(CheckoutRef, event).checkout_id)
    return {
        "released": reservation is not None,
        "status": reservation.status if reservation else None,
    }
