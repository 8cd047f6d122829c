"""Recommendations on the local platform: baskets learnt from placed orders (through the real
bus and queue), a model trained by the job and served from S3, and a shopper's session that
follows their views and cart adds at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from event_support import eventually, order_event, put_on_bus
from search_support import create_product, word

from helpers import Api, assert_error, emulator_client, invoke, unique
from shop import faults
from shop_local.auth import user_id
from shop_local.platform import LocalPlatform


def order_of(user: str, skus: list[str]) -> dict[str, Any]:
    """An OrderPlaced event's detail: one unit of each SKU, a new order each call."""
    detail = order_event("OrderPlaced", user)
    detail["data"]["lines"] = [
        {"sku": sku, "quantity": 1, "unit_price": {"amount": 450, "currency": "GBP"}}
        for sku in skus
    ]
    return detail


def sku_of(product: dict[str, Any]) -> str:
    return str(product["variants"][0]["sku"])


def activity(platform: LocalPlatform, user: str, prefix: str) -> list[dict[str, Any]]:
    """The recommendation table's items of a user whose sort key starts with `prefix`."""
    response = emulator_client(platform, "dynamodb").query(
        TableName=platform.environment["RECOMMENDATIONS_TABLE"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": f"SHOPPER#{user_id(user)}"},
            ":prefix": {"S": prefix},
        },
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = response["Items"]
    return items


def place_orders(platform: LocalPlatform, orders: list[tuple[str, list[str]]]) -> None:
    """Publish each (user, SKUs) as a placed order, and wait until every one is in its
    shopper's history."""
    expected: dict[str, int] = {}
    for user, skus in orders:
        expected[user] = expected.get(user, len(activity(platform, user, "BASKET#"))) + 1
        put_on_bus(platform, order_of(user, skus))
    eventually(lambda: all(len(activity(platform, u, "BASKET#")) >= n for u, n in expected.items()))


def train(platform: LocalPlatform) -> dict[str, Any]:
    report, error = invoke(platform, "TrainRecommendationsFunction", {})
    assert error is None, report
    return dict(report)


def recommended(api: Api, path: str, *, user: str | None = None, limit: int = 10) -> list[Any]:
    response = api.get(f"{path}?limit={limit}", user=user)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [(item["product_id"], item["reason"]) for item in items]


@pytest.fixture(scope="module")
def lanterns(api: Api, platform: LocalPlatform) -> dict[str, dict[str, Any]]:
    """A lantern and what its buyers bought with it: a wick in three orders, a stand in two,
    a cloth once (too rare to be a neighbour); a shade in two (then archived) and a hook in
    two (sold out); and three more products bought alone, so that the popular ones are more
    than the page's neighbours whatever else the platform holds. Trained into the model."""
    names = {"lantern": 5, "wick": 5, "stand": 5, "cloth": 5, "shade": 5, "hook": 0}
    names |= {f"filler{n}": 5 for n in range(3)}
    tag = word(8).title()
    made = {n: create_product(api, f"{tag} {n}", stocked=q) for n, q in names.items()}
    sku = {n: sku_of(p) for n, p in made.items()}
    buyer = unique("buyer")
    place_orders(
        platform,
        [(buyer, [sku["lantern"], sku["wick"]])] * 3
        + [(buyer, [sku["lantern"], sku["stand"]])] * 2
        + [(buyer, [sku["lantern"], sku["cloth"]])]
        + [(buyer, [sku["lantern"], sku["shade"]])] * 2
        + [(buyer, [sku["lantern"], sku["hook"]])] * 2
        + [(buyer, [sku[f"filler{n}"]]) for n in range(3)],
    )
    archived = api.delete(
        f"/admin/products/{made['shade']['product_id']}", user="alice", admin=True
    )
    assert archived.status_code == 200, archived.text
    report = train(platform)
    assert report["baskets"] >= 10
    assert report["artefact_bytes"] > 0
    return made


def test_products_bought_together_come_best_first_never_the_product_archived_or_sold_out(
    api: Api, lanterns: dict[str, dict[str, Any]]
) -> None:
    ids = {name: product["product_id"] for name, product in lanterns.items()}
    path = f"/products/{ids['lantern']}/recommendations"

    def together() -> list[Any]:
        return recommended(api, path, limit=5)

    eventually(lambda: bool(together()) and together()[0] == (ids["wick"], "bought together"))
    found = together()
    assert found[:2] == [(ids["wick"], "bought together"), (ids["stand"], "bought together")]
    shown = {product for product, _ in found}
    assert ids["lantern"] not in shown  # never itself
    assert ids["shade"] not in shown  # archived
    assert ids["hook"] not in shown  # sold out
    assert (ids["cloth"], "bought together") not in found  # one basket is no evidence
    assert len(found) == 5  # filled with popular products
    assert all(reason == "popular" for _, reason in found[2:])


def test_a_new_shopper_gets_popular_products_then_their_viewed_products_neighbours(
    api: Api, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("newcomer")
    first = recommended(api, "/recommendations", user=shopper, limit=7)
    assert len(first) == 7
    assert {reason for _, reason in first} == {"popular"}

    viewed = api.post(
        "/recommendations/views",
        json={"product_id": lanterns["lantern"]["product_id"]},
        user=shopper,
    )
    assert viewed.status_code == 202, viewed.text

    after = recommended(api, "/recommendations", user=shopper, limit=7)
    assert after[0] == (lanterns["wick"]["product_id"], "from your session")
    assert (lanterns["stand"]["product_id"], "from your session") in after
    assert len(after) == 7


def test_a_cart_add_joins_the_session_through_the_cart_event(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("carter")
    added = api.post(
        "/cart/items", json={"sku": sku_of(lanterns["lantern"]), "quantity": 1}, user=shopper
    )
    assert added.status_code == 200, added.text
    wick = (lanterns["wick"]["product_id"], "from your session")
    eventually(lambda: wick in recommended(api, "/recommendations", user=shopper), timeout=20)
    [seen] = activity(platform, shopper, "SEEN#")
    assert (seen["product_id"]["S"], seen["kind"]["S"]) == (
        lanterns["lantern"]["product_id"],
        "cart",
    )


def test_a_placed_order_comes_back_as_bought_again_once_however_often_delivered(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("regular")
    detail = order_of(shopper, [sku_of(lanterns["cloth"])])
    put_on_bus(platform, detail)
    put_on_bus(platform, detail)  # EventBridge delivers at least once
    eventually(lambda: len(activity(platform, shopper, "BASKET#")) == 1)
    platform.wait_until_idle(30)
    assert len(activity(platform, shopper, "BASKET#")) == 1

    mine = recommended(api, "/recommendations", user=shopper, limit=5)
    assert mine[0] == (lanterns["cloth"]["product_id"], "bought again")
    # The lantern was bought with the cloth (once, so the model does not list it), ...
    # ... and the new shopper's list is not this one's.
    assert mine != recommended(api, "/recommendations", user=unique("someone"), limit=5)


def test_recommendations_refuse_bad_input_with_a_clear_4xx(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    lantern = lanterns["lantern"]["product_id"]
    for limit in ("0", "51", "ten", "2.5"):
        invalid = (422, "VALIDATION_FAILED")
        assert_error(api.get(f"/products/{lantern}/recommendations?limit={limit}"), *invalid)
        assert_error(api.get(f"/recommendations?limit={limit}", user="bob"), *invalid)
    assert_error(api.get("/products/no-such-product/recommendations"), 404, "PRODUCT_NOT_FOUND")
    assert_error(api.get("/recommendations"), 401)

    shopper = unique("viewer")
    views = "/recommendations/views"
    assert_error(api.post(views, json={"product_id": lantern}), 401)
    assert_error(api.post(views, json={"product_id": "no-such"}, user=shopper), 404)
    shade = lanterns["shade"]["product_id"]
    assert_error(api.post(views, json={"product_id": shade}, user=shopper), 404)
    assert_error(api.post(views, data="{not json", user=shopper), 400)
    assert_error(api.post(views, json={"product_id": 7}, user=shopper), 422)
    assert_error(api.post(views, json={"product_id": lantern, "x": 1}, user=shopper), 422)
    assert_error(api.post(views, json={}, user=shopper), 422)
    assert_error(api.post(views, json=["not", "an", "object"], user=shopper), 400)
    assert activity(platform, shopper, "SEEN#") == []  # nothing recorded


def test_a_warm_function_serves_the_model_trained_after_it_started(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    tag = word(8).title()
    kettle, whistle = (create_product(api, f"{tag} {n}") for n in ("kettle", "whistle"))
    path = f"/products/{kettle['product_id']}/recommendations"
    before = recommended(api, path, limit=3)  # the function is warm, with the old model
    assert (whistle["product_id"], "bought together") not in before

    buyer = unique("buyer")
    place_orders(platform, [(buyer, [sku_of(kettle), sku_of(whistle)])] * 2)
    train(platform)
    eventually(
        lambda: recommended(api, path, limit=3)[0] == (whistle["product_id"], "bought together")
    )


def test_a_crowd_of_views_at_once_records_every_one(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("browser")
    products = [create_product(api, f"{word(8).title()} Candle")["product_id"] for _ in range(30)]

    def view(product_id: str) -> int:
        response = api.post("/recommendations/views", json={"product_id": product_id}, user=shopper)
        return response.status_code

    with ThreadPoolExecutor(max_workers=len(products)) as pool:
        statuses = list(pool.map(view, products))
    assert statuses == [202] * len(products)
    seen = activity(platform, shopper, "SEEN#")
    assert sorted(item["product_id"]["S"] for item in seen) == sorted(products)
    assert len(recommended(api, "/recommendations", user=shopper, limit=10)) == 10


def test_a_learner_killed_mid_batch_loses_no_order_and_records_none_twice(
    platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("steady")
    faults.inject("learn_shopper_activity", "crash_once")
    try:
        for _ in range(4):
            put_on_bus(platform, order_of(shopper, [sku_of(lanterns["wick"])]))
        eventually(lambda: len(activity(platform, shopper, "BASKET#")) == 4, timeout=40)
        assert faults.pending("learn_shopper_activity") is None, "the learner never crashed"
    finally:
        faults.clear()
    platform.wait_until_idle(30)
    assert len(activity(platform, shopper, "BASKET#")) == 4


def test_a_product_archived_or_sold_out_while_shown_leaves_the_list(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    tag = word(8).title()
    lamp, bulb, fuse = (create_product(api, f"{tag} {n}") for n in ("lamp", "bulb", "fuse"))
    buyer = unique("buyer")
    place_orders(platform, [(buyer, [sku_of(lamp), sku_of(bulb), sku_of(fuse)])] * 2)
    train(platform)
    path = f"/products/{lamp['product_id']}/recommendations"

    def shown() -> set[str]:
        return {product for product, _ in recommended(api, path, limit=10)}

    eventually(lambda: {bulb["product_id"], fuse["product_id"]} <= shown())
    archived = api.delete(f"/admin/products/{bulb['product_id']}", user="alice", admin=True)
    assert archived.status_code == 200, archived.text
    sold_out = api.put(
        f"/admin/inventory/{sku_of(fuse)}",
        json={"warehouse_id": "wh-test", "quantity": 0},
        user="alice",
        admin=True,
    )
    assert sold_out.status_code == 200, sold_out.text
    # Within the service's 10 s of taking a product's status and stock as known.
    eventually(lambda: not ({bulb["product_id"], fuse["product_id"]} & shown()), timeout=20)


def test_a_cancelled_order_leaves_the_history_even_when_its_events_arrive_out_of_order(
    api: Api, platform: LocalPlatform, lanterns: dict[str, dict[str, Any]]
) -> None:
    shopper = unique("changed-mind")
    placed = order_of(shopper, [sku_of(lanterns["stand"])])
    put_on_bus(platform, placed)
    eventually(lambda: len(activity(platform, shopper, "BASKET#")) == 1)
    assert recommended(api, "/recommendations", user=shopper, limit=3)[0] == (
        lanterns["stand"]["product_id"],
        "bought again",
    )
    put_on_bus(platform, cancelled_of(placed))
    eventually(lambda: activity(platform, shopper, "BASKET#") == [])
    mine = recommended(api, "/recommendations", user=shopper, limit=3)
    assert "bought again" not in {reason for _, reason in mine}

    # Queues keep no order: a cancellation first, then its placement, still no basket.
    late = order_of(shopper, [sku_of(lanterns["wick"])])
    put_on_bus(platform, cancelled_of(late))
    eventually(lambda: len(activity(platform, shopper, "CANCELLED#")) == 2)
    put_on_bus(platform, late)
    platform.wait_until_idle(30)
    assert activity(platform, shopper, "BASKET#") == []


def cancelled_of(placed: dict[str, Any]) -> dict[str, Any]:
    """The OrderCancelled of an OrderPlaced's detail."""
    order_id = placed["data"]["order_id"]
    return {
        **placed,
        "event_id": f"OrderCancelled:{order_id}",
        "event_type": "OrderCancelled",
        "occurred_at": "2026-12-01T11:00:00.000Z",
        "data": {**placed["data"], "status": "CANCELLED"},
    }
