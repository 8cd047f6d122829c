"""The demo loader puts real catalog products and stock into the platform, once."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import Api
from shop.inventory.service import stock_levels
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

    stock = stock_levels(product["variants"][0]["sku"])
    assert stock
    assert all(level.on_hand > 0 for level in stock)
