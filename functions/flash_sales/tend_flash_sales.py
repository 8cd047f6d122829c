"""Scheduled: lapsed wins expire and go to the next in line; ended sales give back what is
left."""

from typing import Any

from shop.flash_sales.service import tend_sales
from shop.observability import get_logger, lambda_entry

logger = get_logger("flash_sales")


@lambda_entry("flash_sales")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    tended = tend_sales()
    logger.info("tended flash sales", extra={"sales": tended})
    return {"sales": tended}
