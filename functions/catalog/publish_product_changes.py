"""Catalog table stream -> `ProductChanged` on the event bus (the catalog's outbox)."""

from typing import Any

from shop.catalog.events import product_changed
from shop.events import publish
from shop.observability import get_logger

logger = get_logger("catalog")


def handler(event: dict[str, Any], context: Any) -> None:
    events = [e for r in event.get("Records", []) if (e := product_changed(r)) is not None]
    # A failure raises: the stream retries the batch, and consumers drop duplicates by event_id.
    publish(events)
    logger.info("published product changes", extra={"count": len(events)})
