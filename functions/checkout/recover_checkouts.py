"""Scheduled: finish or compensate checkouts whose saga stopped between steps."""

from typing import Any

from shop.checkout.service import recover_stuck
from shop.observability import get_logger, lambda_entry

logger = get_logger("checkout")


@lambda_entry("checkout")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resumed = recover_stuck()
    logger.info("recovered stuck checkouts", extra={"resumed": resumed})
    return {"resumed": resumed}
