"""Orders table stream -> OrderPlaced / OrderCancelled on the event bus (the orders' outbox)."""

from typing import Any

from shop.events import publish
from shop.observability import get_logger
from shop.orders.events import order_event

logger = get_logger("orders")


def handler(event: dict[str, Any], context: Any) -> None:
    events = [e for r in event.get("Records", []) if (e := order_event(r)) is not None]
    publish(events)
    logger.info("published order events", extra={"count": len(events)})
