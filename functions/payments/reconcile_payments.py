"""Scheduled: cancel authorizations Stripe holds that no checkout owns (a lost answer's
leftovers), so no customer keeps a hold on their card for an order that does not exist."""

from typing import Any

from shop.observability import get_logger, lambda_entry
from shop.payments.service import reconcile_orphans

logger = get_logger("payments")


@lambda_entry("payments")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = reconcile_orphans(context.get_remaining_time_in_millis() / 1000)
    logger.info("reconciled authorizations", extra=result)
    return result
