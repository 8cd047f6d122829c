"""Scheduled: start the refund of claims whose request died before starting it."""

from typing import Any

from shop.fulfillment.service import resume_open_claims
from shop.observability import get_logger, lambda_entry

logger = get_logger("fulfillment")


@lambda_entry("fulfillment")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resumed = resume_open_claims()
    logger.info("resumed open claims", extra={"resumed": resumed})
    return {"resumed": resumed}
