"""The cart never loses items: concurrent adds all count, retries count once, a guest cart merges
into the user's exactly once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from checkout_support import ADDRESS

from helpers import Api, assert_error, product_payload, unique
from shop.cart.repository import CartRepository
from shop_local.auth import user_id
from shop_local.event_sources import scheduled_event
from shop_local.platform import LocalPlatform


def new_product(api: Api, skus: int = 1, amount: int = 300) -> tuple[str, list[str]]:
    names = [unique("CART").upper() for _ in range(skus)]
    product = api.post(
        "/admin/products", json=product_payload(skus=names, amount=amount), user="admin", admin=True
    ).json()
    return product["product_id"], names


def add(api: Api, user: str, sku: str, quantity: int = 1, **kwargs: Any) -> requests.Response:
    return api.post("/cart/items", json={"sku": sku, "quantity": quantity}, user=user, **kwargs)


def cart(api: Api, user: str) -> dict[str, Any]:
    response = api.get("/cart", user=user)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def quantities(body: dict[str, Any]) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in body["lines"]}


def fill_100_lines(api: Api, user: str) -> list[str]:
    """A full cart: 100 lines of one unit, added 20 at a time. Returns their SKUs."""
    skus: list[str] = []
    for _ in range(4):
        skus += new_product(api, skus=25)[1]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda s: add(api, user, s, 1), skus))
    return skus


def new_guest(api: Api) -> str:
    response = api.post("/guest-cart")
    assert response.status_code == 201, response.text
    token: str = response.json()["cart_token"]
    return token


def guest_add(api: Api, token: str, sku: str, quantity: int) -> requests.Response:
    return api.post(
        "/guest-cart/items",
        json={"sku": sku, "quantity": quantity},
        headers={"X-Cart-Token": token},
    )


def test_a_shopper_adds_changes_and_removes_lines(api: Api) -> None:
    user = unique("shopper")
    _, (a, b) = new_product(api, skus=2)
    assert add(api, user, a, 2).status_code == 200
    assert add(api, user, b, 1).status_code == 200
    assert add(api, user, a, 3).status_code == 200
    assert quantities(cart(api, user)) == {a: 5, b: 1}
    assert api.put(f"/cart/items/{a}", json={"quantity": 7}, user=user).status_code == 200
    assert api.delete(f"/cart/items/{b}", user=user).status_code == 200
    assert api.delete(f"/cart/items/{b}", user=user).status_code == 200  # idempotent
    body = cart(api, user)
    assert quantities(body) == {a: 7}
    assert body["totals"] == [{"amount": 2100, "currency": "GBP"}]
    assert body["needs_review"] is False


def test_the_cart_shows_price_changes_and_unavailable_lines_before_checkout(api: Api) -> None:
    user = unique("shopper")
    pid, (a,) = new_product(api, amount=300)
    other_pid, (b,) = new_product(api, amount=500)
    add(api, user, a, 1)
    add(api, user, b, 1)
    api.put(
        f"/admin/products/{pid}",
        json=product_payload(skus=[a], amount=350),
        user="admin",
        admin=True,
    )
    api.delete(f"/admin/products/{other_pid}", user="admin", admin=True)
    lines = {line["sku"]: line for line in cart(api, user)["lines"]}
    assert lines[a]["unit_price"]["amount"] == 300
    assert lines[a]["current_price"]["amount"] == 350
    assert lines[a]["price_changed"] is True
    assert lines[b]["available"] is False
    body = cart(api, user)
    assert body["needs_review"] is True
    assert body["totals"] == [{"amount": 350, "currency": "GBP"}]


def test_50_threads_adding_different_skus_to_one_cart_lose_none(api: Api) -> None:
    user = unique("racer")
    _, skus = new_product(api, skus=25)
    _, more = new_product(api, skus=25)
    everything = skus + more
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda s: add(api, user, s, 1).status_code, everything))
    assert statuses == [200] * 50
    body = cart(api, user)
    assert quantities(body) == dict.fromkeys(everything, 1)
    assert body["line_count"] == 50


def test_50_threads_adding_the_same_sku_sum_exactly(api: Api) -> None:
    user = unique("racer")
    _, (sku,) = new_product(api)
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: add(api, user, sku, 1).status_code, range(50)))
    assert statuses == [200] * 50
    assert quantities(cart(api, user)) == {sku: 50}


def test_repeated_adds_with_one_idempotency_key_count_once(api: Api) -> None:
    user = unique("retrier")
    _, (sku,) = new_product(api)
    key = {"Idempotency-Key": unique("add")}
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(lambda _: add(api, user, sku, 2, headers=key).status_code, range(10))
        )
    assert set(statuses) <= {200, 409}  # 409: the first is still running; retry gets 200
    assert add(api, user, sku, 2, headers=key).status_code == 200
    assert quantities(cart(api, user)) == {sku: 2}


def test_a_line_holds_at_most_99_and_a_cart_at_most_100_lines(api: Api) -> None:
    user = unique("hoarder")
    _, (sku,) = new_product(api)
    assert add(api, user, sku, 99).status_code == 200
    assert_error(add(api, user, sku, 1), 422, "QUANTITY_LIMIT")
    assert quantities(cart(api, user)) == {sku: 99}

    full = unique("full")
    fill_100_lines(api, full)
    _, (extra,) = new_product(api)
    assert_error(add(api, full, extra, 1), 422, "CART_FULL")
    assert cart(api, full)["line_count"] == 100


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sku": "NOPE-NOT-A-SKU", "quantity": 1}, 422, "SKU_NOT_FOUND"),
        ("quantity", 422, "VALIDATION_FAILED"),
    ],
)
def test_bad_adds_are_refused_and_change_nothing(
    api: Api, body: Any, status: int, code: str
) -> None:
    user = unique("bad")
    _, (sku,) = new_product(api)
    add(api, user, sku, 2)
    before = cart(api, user)
    bad_bodies = (
        [body]
        if body != "quantity"
        else [{"sku": sku, "quantity": q} for q in (0, -1, 100, "3", 2.5, None)]
        + [{"sku": sku}, {"sku": sku, "quantity": 1, "colour": "red"}]
    )
    for bad in bad_bodies:
        assert_error(api.post("/cart/items", json=bad, user=user), status, code)
    assert_error(api.post("/cart/items", data="{not json", user=user), 400, "BAD_REQUEST")
    assert_error(api.post("/cart/items", data="x" * (300 * 1024), user=user), 413)
    assert_error(api.put(f"/cart/items/{sku}", json={"quantity": 0}, user=user), 422)
    assert_error(
        api.put("/cart/items/NOT-IN-CART", json={"quantity": 1}, user=user), 404, "LINE_NOT_FOUND"
    )
    assert cart(api, user) == before


def test_an_archived_sku_cannot_be_added(api: Api) -> None:
    pid, (sku,) = new_product(api)
    api.delete(f"/admin/products/{pid}", user="admin", admin=True)
    assert_error(add(api, unique("u"), sku), 422, "SKU_UNAVAILABLE")


def test_one_shopper_cannot_see_or_change_another_shoppers_cart(api: Api) -> None:
    alice, bob = unique("alice"), unique("bob")
    _, (sku,) = new_product(api)
    add(api, alice, sku, 3)
    assert cart(api, bob)["lines"] == []
    api.delete(f"/cart/items/{sku}", user=bob)
    assert_error(api.put(f"/cart/items/{sku}", json={"quantity": 9}, user=bob), 404)
    assert quantities(cart(api, alice)) == {sku: 3}
    assert_error(api.get("/cart"), 401, "UNAUTHORIZED")


def test_a_guest_cart_merges_into_the_users_cart_exactly_once(api: Api) -> None:
    user = unique("signing-in")
    _, (a, b) = new_product(api, skus=2)
    add(api, user, a, 2)
    token = new_guest(api)
    assert guest_add(api, token, a, 3).status_code == 200
    assert guest_add(api, token, b, 1).status_code == 200

    def merge() -> int:
        return api.post("/cart/merge", json={"cart_token": token}, user=user).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: merge(), range(8)))
    assert set(statuses) == {200}
    assert merge() == 200
    assert quantities(cart(api, user)) == {a: 5, b: 1}
    assert_error(api.get("/guest-cart", headers={"X-Cart-Token": token}), 409, "CART_MERGED")
    assert_error(guest_add(api, token, a, 1), 409, "CART_MERGED")
    other = unique("someone-else")
    assert_error(
        api.post("/cart/merge", json={"cart_token": token}, user=other), 409, "CART_MERGED"
    )


def test_merging_applies_the_line_limit(api: Api) -> None:
    user = unique("limit")
    _, (sku,) = new_product(api)
    add(api, user, sku, 90)
    token = new_guest(api)
    guest_add(api, token, sku, 50)
    api.post("/cart/merge", json={"cart_token": token}, user=user)
    assert quantities(cart(api, user)) == {sku: 99}


def test_guest_routes_need_a_known_token(api: Api) -> None:
    _, (sku,) = new_product(api)
    assert_error(api.get("/guest-cart"), 400, "BAD_REQUEST")
    assert_error(api.get("/guest-cart", headers={"X-Cart-Token": "x" * 43}), 404, "CART_NOT_FOUND")
    assert_error(guest_add(api, "y" * 43, sku, 1), 404, "CART_NOT_FOUND")


def test_idle_guest_carts_expire_and_user_carts_do_not(api: Api, platform: LocalPlatform) -> None:
    user = unique("keeper")
    _, (sku,) = new_product(api)
    add(api, user, sku, 1)
    token = new_guest(api)
    guest_add(api, token, sku, 4)
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(31 * 24 * 3600)
    try:
        result = platform.functions.invoke("ExpireGuestCartsFunction", scheduled_event("expire"))
        assert result["expired"] >= 1
        assert_error(api.get("/guest-cart", headers={"X-Cart-Token": token}), 404, "CART_NOT_FOUND")
        assert quantities(cart(api, user)) == {sku: 1}
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    assert_error(api.get("/guest-cart", headers={"X-Cart-Token": token}), 404, "CART_NOT_FOUND")


def test_an_active_guest_cart_is_not_expired(api: Api, platform: LocalPlatform) -> None:
    _, (sku,) = new_product(api)
    token = new_guest(api)
    guest_add(api, token, sku, 1)
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(29 * 24 * 3600)
    try:
        platform.functions.invoke("ExpireGuestCartsFunction", scheduled_event("expire"))
        guest_add(api, token, sku, 1)  # activity on day 29 moves the expiry to day 59
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(45 * 24 * 3600)
    try:
        platform.functions.invoke("ExpireGuestCartsFunction", scheduled_event("expire"))
        response = api.get("/guest-cart", headers={"X-Cart-Token": token})
        assert response.status_code == 200
        assert quantities(response.json()) == {sku: 2}
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")


def clear_purchased(
    platform: LocalPlatform, user: str, purchased: dict[str, int]
) -> dict[str, Any]:
    """The checkout saga's ClearCart step, as the state machine invokes it."""
    price = {"amount": 300, "currency": "GBP"}
    event = {
        "checkout_id": unique("co"),
        "user_id": user_id(user),  # the sub of the token the API calls carry
        "lines": [
            {"sku": sku, "quantity": quantity, "unit_price": price}
            for sku, quantity in purchased.items()
        ],
        "total": price,
        "payment_method": "pm_card_visa",
        "shipping_address": ADDRESS,
    }
    result: dict[str, Any] = platform.functions.invoke("ClearCartFunction", event)
    return result


def test_a_checkout_takes_what_was_bought_off_the_cart_and_leaves_the_rest(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("buyer")
    _, (bought, more, kept) = new_product(api, skus=3)
    add(api, user, bought, 1)
    add(api, user, more, 3)
    add(api, user, kept, 1)
    assert clear_purchased(platform, user, {bought: 1, more: 2}) == {"lines_left": 2}
    view = cart(api, user)
    assert quantities(view) == {more: 1, kept: 1}
    assert view["line_count"] == 2


def test_a_line_raised_while_its_checkout_clears_the_cart_keeps_the_difference(
    api: Api, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = unique("buyer")
    _, (sku,) = new_product(api)
    add(api, user, sku, 1)
    read = CartRepository.read
    raised: list[int] = []

    def read_then_shopper_adds_two(
        self: CartRepository, owner: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        found = read(self, owner)
        if not raised:  # between the step's read and its write, once
            raised.append(add(api, user, sku, 2).status_code)
        return found

    monkeypatch.setattr(CartRepository, "read", read_then_shopper_adds_two)
    assert clear_purchased(platform, user, {sku: 1}) == {"lines_left": 1}
    assert raised == [200]
    assert quantities(cart(api, user)) == {sku: 2}  # 1 + 2 added - 1 bought


def test_a_checkout_of_a_full_cart_empties_it_and_it_fills_again(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("bulk")
    skus = fill_100_lines(api, user)
    assert cart(api, user)["line_count"] == 100
    # 100 line deletes and the META update: more than one transaction holds.
    assert clear_purchased(platform, user, dict.fromkeys(skus, 1)) == {"lines_left": 0}
    assert cart(api, user)["lines"] == []
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda s: add(api, user, s, 1).status_code, skus))
    assert statuses == [200] * 100  # the line count came back to 0, not below or above
    assert cart(api, user)["line_count"] == 100
