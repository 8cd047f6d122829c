"""Names of the resources a function uses, read from the environment the template sets."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

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


def cart_table() -> str:
    return setting("CART_TABLE")


def event_bus() -> str:
    return setting("EVENT_BUS_NAME")


def checkout_table() -> str:
    return setting("CHECKOUT_TABLE")


def orders_table() -> str:
    return setting("ORDERS_TABLE")


def payments_table() -> str:
    return setting("PAYMENTS_TABLE")


def notifications_table() -> str:
    return setting("NOTIFICATIONS_TABLE")


def flash_sales_table() -> str:
    return setting("FLASH_SALES_TABLE")


def flash_sale_entries_queue() -> str:
    """The URL of the queue the accept path puts entries on."""
    return setting("FLASH_SALE_ENTRIES_QUEUE_URL")


def circuits_table() -> str:
    return setting("CIRCUITS_TABLE")


def checkout_state_machine() -> str:
    return setting("CHECKOUT_STATE_MACHINE_ARN")


DEFAULT_SECRET_MAX_AGE_SECONDS = 300


def secret(parameter_env: str) -> str:
    """A secret from SSM Parameter Store (SecureString), named by an environment variable:
    the template passes parameter names, never secret values. Kept SECRET_MAX_AGE_SECONDS
    (Powertools Parameters' cache), so a rotated secret is in use that long after, with no
    redeploy."""
    max_age = int(os.environ.get("SECRET_MAX_AGE_SECONDS", DEFAULT_SECRET_MAX_AGE_SECONDS))
    value = _parameters().get(setting(parameter_env), decrypt=True, max_age=max_age)
    return str(value)


@cache
def _parameters() -> Any:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from shop import aws

    return SSMProvider(boto3_client=aws.client("ssm"))


def product_sales_table() -> str:
    return setting("PRODUCT_SALES_TABLE")


def search_engine() -> str:
    """ "tantivy" (an index folder, `SEARCH_INDEX_DIR`) or "opensearch" (`OPENSEARCH_ENDPOINT`)."""
    return setting("SEARCH_ENGINE")


def user_pool() -> tuple[str, str, str]:
    """(issuer, client id, JWKS URL) of the user pool, for functions that check a token
    themselves (public routes); empty strings where the function is not told. Cognito
    publishes its keys under the issuer; the local platform serves its own
    (`USER_POOL_JWKS_URL`)."""
    issuer = os.environ.get("USER_POOL_ISSUER", "")
    client = os.environ.get("USER_POOL_CLIENT_ID", "")
    keys = os.environ.get("USER_POOL_JWKS_URL") or (
        f"{issuer}/.well-known/jwks.json" if issuer else ""
    )
    return issuer, client, keys


def user_pool_id() -> str:
    """The Cognito user pool the shoppers sign in with (an erasure deletes the user there)."""
    return setting("USER_POOL_ID")


def recommendations_table() -> str:
    return setting("RECOMMENDATIONS_TABLE")


def recommendation_model_bucket() -> str:
    return setting("RECOMMENDATION_MODEL_BUCKET")


def hot_read_cache_seconds() -> float:
    """How long a warm function serves a hot public read (a product) from its own memory."""
    return float(os.environ.get("HOT_READ_CACHE_SECONDS", "5"))


def recommendation_model_refresh_seconds() -> float:
    """How often a warm serving function looks for a newer model (one HEAD request)."""
    return float(os.environ.get("RECOMMENDATION_MODEL_REFRESH_SECONDS", "300"))


def fulfillment_table() -> str:
    return setting("FULFILLMENT_TABLE")


def refund_state_machine() -> str:
    return setting("REFUND_STATE_MACHINE_ARN")
