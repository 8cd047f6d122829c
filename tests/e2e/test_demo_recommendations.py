"""What a shopper on `make run` is recommended: the demo customers' history was imported and
trained on, so a known customer's list is their own, a product page shows what sold with it,
and a new shopper's list follows the product they just looked at."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from demo_support import shop_token

pytestmark = pytest.mark.e2e


def recommended(url: str, path: str, token: str | None = None) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{url}{path}", params={"limit": 10}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_demo_customer_is_recommended_their_own_and_a_product_what_sold_with_it(
    demo_shop: tuple[str, Path],
) -> None:
    url, state = demo_shop
    regular = recommended(url, "/recommendations", shop_token(state, "customer-17850"))
    newcomer = recommended(url, "/recommendations", shop_token(state, f"new-{uuid.uuid4()}"))

    assert len(regular) == len(newcomer) == 10
    assert [i["product_id"] for i in regular] != [i["product_id"] for i in newcomer]
    assert any(i["reason"] == "bought again" for i in regular), regular
    assert {i["reason"] for i in newcomer} == {"popular"}

    best_seller = newcomer[0]["product_id"]
    together = recommended(url, f"/products/{best_seller}/recommendations")
    assert len(together) == 10
    assert together[0]["reason"] == "bought together"
    assert best_seller not in [i["product_id"] for i in together]


def test_a_new_shopper_who_views_a_product_sees_its_neighbours_within_seconds(
    demo_shop: tuple[str, Path],
) -> None:
    url, state = demo_shop
    token = shop_token(state, f"browser-{uuid.uuid4()}")
    product = recommended(url, "/recommendations", token)[3]["product_id"]
    neighbours = [i["product_id"] for i in recommended(url, f"/products/{product}/recommendations")]

    viewed = requests.post(
        f"{url}/recommendations/views",
        json={"product_id": product},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert viewed.status_code == 202, viewed.text
    deadline = time.monotonic() + 10
    while True:
        mine = recommended(url, "/recommendations", token)
        from_session = {i["product_id"] for i in mine if i["reason"] == "from your session"}
        if from_session:
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.2)
    # Its best neighbour leads the list, for the session's sake.
    assert (mine[0]["product_id"], mine[0]["reason"]) == (neighbours[0], "from your session")
    assert from_session <= set(neighbours)
