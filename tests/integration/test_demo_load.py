"""The demo loader puts real catalog products and stock into the platform, once."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import Api, emulator_client
from shop_local import demo
from shop_local.demo_catalog import build_demo_catalog
from shop_local.platform import LocalPlatform


@pytest.fixture(scope="module")
def demo_subset() -> list[dict[str, Any]]:
    drafts = build_demo_catalog()
    return [d for d in drafts if d["category"] == "baking"][:30]


def test_the_demo_catalog_loads_once_and_is_served(
    api: Api,
    platform: LocalPlatform,
    demo_subset: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo, "build_demo_catalog", lambda: demo_subset)
    first = demo.load_demo()
    again = demo.load_demo()
    assert first["created"] == len(demo_subset)
    assert again["created"] == 0

    product = demo_subset[0]
    served = api.get(f"/products/{product['product_id']}").json()
    assert served["name"] == product["name"]
    assert served["variants"] == product["variants"]

    dynamodb = emulator_client(platform, "dynamodb")
    sku = product["variants"][0]["sku"]
    stock = dynamodb.query(
        TableName=platform.environment["INVENTORY_TABLE"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :stock)",
        ExpressionAttributeValues={":pk": {"S": f"SKU#{sku}"}, ":stock": {"S": "STOCK#"}},
    )["Items"]
    assert stock
    assert all(int(level["on_hand"]["N"]) > 0 for level in stock)
