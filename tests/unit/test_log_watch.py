"""The suite's log watch finds personal data in what a function logs, and only there."""

from __future__ import annotations

import logging

import log_watch

from shop_local import functions


def test_an_address_a_function_logs_is_found_and_a_log_outside_any_function_is_not() -> None:
    logger = logging.getLogger("shop.test_log_watch")
    before = len(log_watch.findings)
    log_watch.install()
    logger.warning("outside any function: 1 High Street, N1 1AA")
    assert len(log_watch.findings) == before
    running = functions._running.set("CreateOrderFunction")
    try:
        logger.warning("shipping", extra={"address": {"line1": "2 Market Street"}})
        logger.warning("receipt sent to ann@example.com")
        logger.warning("card 4242 4242 4242 4242")
        logger.warning("an order of 3 items, sku 85123A, at 1764700000000")  # nothing personal
        logger.warning("let us know at support@stripe.com")  # Stripe's, not a shopper's
    finally:
        functions._running.reset(running)
        new = log_watch.findings[before:]
        del log_watch.findings[before:]  # the suite's own check reads real findings only
    assert sorted(f.kind for f in new) == ["card number", "email", "street"]
    assert {f.function for f in new} == {"CreateOrderFunction"}
