"""Saga compensation: give a checkout's stock back (idempotent; a no-op if none held). Stock
already committed is restocked, since the saga only compensates when the sale did not happen."""

from typing import Any

from shop.inventory.models import CheckoutRef
from shop.inventory.service import release
from shop.tasks import task_handler, task_input


@task_handler("inventory")
def handler(event: dict[str, Any]) -> Any:
    reservation = release(task_input(CheckoutRef, event).checkout_id, undo_commit=True)
    return {
        "released": reservation is not None,
        "status": reservation.status if reservation else None,
    }
