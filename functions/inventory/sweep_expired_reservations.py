"""Scheduled: release every reservation whose hold has run out (TTL would only delete the
record, hours late, and never give the stock back)."""

from typing import Any

from shop.inventory.service import sweep_expired
from shop.observability import get_logger, lambda_entry

logger = get_logger("inventory")


@lambda_entry("inventory")
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    released = sweep_expired()
    logger.info("swept expired reservations", extra={"released": released})
    return {"released": released}
