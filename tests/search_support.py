"""Search tests' shared steps: products with words no other test uses, stocked, then found."""

from __future__ import annotations

import random
import string
import time
from typing import Any
from urllib.parse import urlencode

from helpers import Api, unique


def word(length: int = 9) -> str:
    """A made-up word of distinct letters (letters only: digits turn typo tolerance off),
    unique to the run; distinct, so that swapping two letters always makes a typo."""
    return "".join(random.sample(string.ascii_lowercase, length))


def create_product(
    api: Api,
    name: str,
    *,
    category: str = "home-decor",
    amount: int = 450,
    description: str = "",
    stocked: int = 5,
) -> dict[str, Any]:
    sku = unique("SKU").upper()
    body = {
        "name": name,
        "description": description,
        "category": category,
        "variants": [{"sku": sku, "price": {"amount": amount, "currency": "GBP"}}],
    }
    if stocked:
        response = api.put(
            f"/admin/inventory/{sku}",
            json={"warehouse_id": "wh-test", "quantity": stocked},
            user="alice",
            admin=True,
        )
        assert response.status_code == 200, response.text
    response = api.post("/admin/products", json=body, user="alice", admin=True)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def search(api: Api, query: str = "", **params: Any) -> dict[str, Any]:
    response = api.get("/search?" + urlencode({"q": query, **params}))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def found_ids(api: Api, query: str, **params: Any) -> list[str]:
    return [item["product_id"] for item in search(api, query, **params)["items"]]


def until_indexed(api: Api, query: str, product_ids: set[str], timeout: float = 20) -> None:
    """Wait until every one of `product_ids` is found by `query` (the indexer is a consumer)."""
    deadline = time.monotonic() + timeout
    while True:
        if product_ids <= set(found_ids(api, query, limit=100)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sorted(product_ids)} not found by {query!r} in {timeout}s")
        time.sleep(0.1)
