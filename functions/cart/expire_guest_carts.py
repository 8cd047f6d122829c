"""Scheduled: delete guest carts idle for 30 days (user carts never expire)."""

from typing import Any

from shop.cart.service import expire_guest_carts
from shop.observability import get_logger, lambda_entry

logger = get_logger("cart")


@lambda_entry("cart")
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    expired = expire_guest_carts()
    logger.info("expired guest carts", extra={"expired": expired})
    return {"expired": expired}
