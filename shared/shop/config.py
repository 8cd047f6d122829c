"""Names of the resources a function uses, read from the environment the template sets."""

from __future__ import annotations

import os

from shop.errors import ShopError


def setting(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise ShopError(f"the function is not configured: {name} is not set") from None


def catalog_table() -> str:
    return setting("CATALOG_TABLE")


def inventory_table() -> str:
    return setting("INVENTORY_TABLE")


def idempotency_table() -> str:
    return setting("IDEMPOTENCY_TABLE")


def event_bus() -> str:
    return setting("EVENT_BUS_NAME")
