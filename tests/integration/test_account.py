"""A shopper's data (docs/privacy.md): GET /account/export holds everything the shop keeps about
them and nothing of anyone else; DELETE /account erases the account (the cart and the
recommendation history deleted, orders and checkouts kept for the books without the address,
notifications without the name, the user deleted from the user pool), refuses while an order
is on its way, and finishes on a retry what a failure left half done."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from checkout_support import ADDRESS, fill_cart, start, wait_for
from fulfillment_support import cancel, place_order, settled, stock, wait_for_order

from helpers import Api, assert_error, emulator_client, product_payload, unique
from shop import faults
from shop.config import orders_table
from shop.dynamo import read_item
from shop_local.auth import user_id
from shop_local.platform import LocalPlatform

ERASED = {
    "name": "erased",
    "line1": "erased",
    "line2": "",
    "city": "erased",
    "postal_code": "erased",
    "country": ADDRESS["country"],
}


def viewed_product(api: Api, user: str) -> str:
    """A new stocked product the shopper looked at: their recommendation activity."""
    sku = unique("AC").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku]), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    stocked = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-ac", "quantity": 5},
        user="admin",
        admin=True,
    )
    assert stocked.status_code == 200, stocked.text
    product_id: str = created.json()["product_id"]
    viewed = api.post("/recommendations/views", json={"product_id": product_id}, user=user)
    assert viewed.status_code == 202, viewed.text
    return product_id


def export_of(api: Api, user: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.get("/account/export", user=user, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "private, no-store"
    body: dict[str, Any] = response.json()
    return body


def erase(api: Api, user: str, key: str | None = None) -> Any:
    return api.delete("/account", user=user, headers={"Idempotency-Key": key or unique("erase")})


def notified(
    api: Api, user: str, order_id: str, kind: str = "order_confirmation", timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in api.get("/notifications", user=user).json()["items"]:
            if note["order_id"] == order_id and note["kind"] == kind:
                return dict(note)
        time.sleep(0.2)
    raise AssertionError(f"no {kind} of {order_id} after {timeout}s")


def test_export_and_erasure_need_a_signed_in_shopper(api: Api) -> None:
    assert_error(api.get("/account/export"), 401, "UNAUTHORIZED")
    assert_error(api.delete("/account", headers={"Idempotency-Key": unique("k")}), 401)


def test_an_erasure_without_a_valid_idempotency_key_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    shopper = unique("keyless")
    sku = stock(api, {"wh-ac": 5})
    fill_cart(api, shopper, {sku: 1})
    assert_error(api.delete("/account", user=shopper), 400, "BAD_REQUEST")
    bad_key = {"Idempotency-Key": "not a key\u00e9"}
    assert_error(api.delete("/account", user=shopper, headers=bad_key), 400, "BAD_REQUEST")
    assert [line["sku"] for line in export_of(api, shopper)["cart"]] == [sku]


def test_export_holds_every_order_and_cart_of_the_shopper_and_nothing_of_another(
    api: Api,
) -> None:
    shopper, other = unique("exporter"), unique("neighbour")
    sku, kept_sku, others_sku = (stock(api, {"wh-ac": 10}) for _ in range(3))
    order = place_order(api, shopper, {sku: 2})
    fill_cart(api, shopper, {kept_sku: 1})
    product_id = viewed_product(api, shopper)
    fill_cart(api, other, {others_sku: 3})
    viewed_product(api, other)
    notified(api, shopper, order["order_id"])

    data = export_of(api, shopper)

    assert data["user_id"] == user_id(shopper)
    assert data["profile"]["email"] == f"{shopper}@example.com"
    assert data["profile"]["user_pool_attributes"] is None  # the stand-in signed them in
    assert [(line["sku"], line["quantity"]) for line in data["cart"]] == [(kept_sku, 1)]
    (exported,) = data["orders"]
    assert exported["order_id"] == order["order_id"]
    assert exported["shipping_address"] == {**ADDRESS, "line2": ""}
    assert exported["shipments"] == order["shipments"]
    (checkout,) = data["checkouts"]
    assert checkout["checkout_id"] == order["checkout_id"]
    assert checkout["status"] == "SUCCEEDED"
    assert checkout["shipping_address"] == exported["shipping_address"]
    (payment,) = data["payments"]
    assert payment["checkout_id"] == order["checkout_id"]
    assert payment["amount"] == order["total"]
    assert [n["order_id"] for n in data["notifications"]] == [order["order_id"]]
    assert ADDRESS["name"] in data["notifications"][0]["message"]
    seen = data["recommendation_activity"]["seen"]
    assert [s["product_id"] for s in seen if s["kind"] == "view"] == [product_id]
    assert {s["kind"] for s in seen} == {"view", "cart"}  # its cart adds too
    assert data["flash_sale_tickets"] == []
    everything = json.dumps(data)
    assert user_id(other) not in everything
    assert others_sku not in everything


def test_an_erased_shopper_keeps_orders_for_the_books_without_their_address(
    api: Api, platform: LocalPlatform
) -> None:
    shopper = unique("forgotten")
    sku, cart_sku = stock(api, {"wh-ac": 10}), stock(api, {"wh-ac": 10})
    order = place_order(api, shopper, {sku: 1})
    notified(api, shopper, order["order_id"])

    # On its way: the carrier still needs the address.
    refused = erase(api, shopper)
    assert_error(refused, 409, "ERASURE_BLOCKED")
    assert refused.json()["error"]["details"]["orders"] == [order["order_id"]]
    kept = api.get(f"/orders/{order['order_id']}", user=shopper).json()
    assert kept["shipping_address"]["name"] == ADDRESS["name"], "a refusal changes nothing"

    assert cancel(api, shopper, order["order_id"]).status_code == 202
    wait_for_order(
        api, shopper, order["order_id"], lambda o: o["status"] == "CANCELLED" and settled(o)
    )
    notified(api, shopper, order["order_id"], "order_cancellation")
    fill_cart(api, shopper, {cart_sku: 2})
    viewed_product(api, shopper)

    erased = erase(api, shopper)
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["orders_kept"] == 1
    assert result["checkouts_kept"] == 1
    assert result["notifications_reworded"] == 1
    assert result["cart_items_deleted"] == 2  # its META and its line
    assert result["activity_deleted"] >= 2  # the view, and the basket or its cancellation

    after = api.get(f"/orders/{order['order_id']}", user=shopper).json()
    assert after["shipping_address"] == ERASED
    assert after["erased_at"] == result["erased_at"]
    assert after["total"] == order["total"]
    assert after["lines"] == order["lines"]
    assert after["status"] == "CANCELLED"
    assert after["cancellations"]
    stored = read_item(orders_table(), {"pk": {"S": f"ORDER#{order['order_id']}"}})
    assert stored is not None
    assert ADDRESS["line1"] not in json.dumps(stored)

    data = export_of(api, shopper)
    assert data["cart"] == []
    assert data["recommendation_activity"] == {"baskets": [], "seen": []}
    assert [c["shipping_address"] for c in data["checkouts"]] == [ERASED]
    note, *_ = (n for n in data["notifications"] if n["kind"] == "order_confirmation")
    assert ADDRESS["name"] not in note["message"]
    assert ADDRESS["city"] not in note["message"]
    assert note["message"].startswith("Thank you: 1 item(s)")
    for personal in (ADDRESS["name"], ADDRESS["line1"], ADDRESS["postal_code"]):
        assert personal not in json.dumps(data)


def test_a_retried_erasure_finishes_what_a_failure_left_half_done(api: Api) -> None:
    shopper = unique("halfway")
    sku = stock(api, {"wh-ac": 10})
    fill_cart(api, shopper, {sku: 1})
    declined = wait_for(api, shopper, start(api, shopper, payment_method="pm_card_chargeDeclined"))
    assert declined["status"] == "FAILED"
    viewed_product(api, shopper)
    key = unique("erase")

    faults.inject("erase_account", "fail_once")
    try:
        failed = erase(api, shopper, key)
    finally:
        faults.clear()
    assert failed.status_code == 500, failed.text
    half = export_of(api, shopper)
    assert [c["shipping_address"] for c in half["checkouts"]] == [ERASED], "done before"
    assert half["cart"] != [], "not yet"
    assert half["recommendation_activity"]["seen"] != [], "not yet"

    retried = erase(api, shopper, key)  # the same key: the failure left nothing recorded
    assert retried.status_code == 200, retried.text
    assert retried.json()["cart_items_deleted"] == 2
    assert retried.json()["activity_deleted"] == 2  # the cart add and the view
    repeated = erase(api, shopper, key)
    assert repeated.json() == retried.json(), "a repeat of the key gets the first answer"
    again = erase(api, shopper)  # a new key: runs again, finds nothing left to delete
    assert again.status_code == 200, again.text
    assert again.json()["cart_items_deleted"] == 0
    assert again.json()["activity_deleted"] == 0
    assert again.json()["checkouts_kept"] == 1
    assert again.json()["user_pool"] == "absent"
    done = export_of(api, shopper)
    assert done["cart"] == []
    assert done["recommendation_activity"] == {"baskets": [], "seen": []}
    assert [c["shipping_address"] for c in done["checkouts"]] == [ERASED]


def test_an_erased_shopper_is_deleted_from_the_user_pool(api: Api, platform: LocalPlatform) -> None:
    cognito = emulator_client(platform, "cognito-idp")
    pool = platform.provisioner.refs["UserPool"]
    name = unique("pooled")
    email = f"{name}@example.com"
    user = cognito.admin_create_user(
        UserPoolId=pool,
        Username=email,
        UserAttributes=[{"Name": "name", "Value": "Pat Pooled"}],
        MessageAction="SUPPRESS",
    )["User"]
    sub = user["Username"]  # email sign-in: the pool names the user by its sub
    signed_in = {"Authorization": f"Bearer {api.identity.issue(name, sub=sub)}"}

    exported = api.get("/account/export", headers=signed_in)
    assert exported.status_code == 200, exported.text
    profile = exported.json()["profile"]
    assert profile["email"] == email
    assert profile["user_pool_attributes"]["name"] == "Pat Pooled"

    headers = {**signed_in, "Idempotency-Key": unique("erase")}
    erased = api.delete("/account", headers=headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["user_pool"] == "deleted"
    with pytest.raises(ClientError) as gone:
        cognito.admin_get_user(UserPoolId=pool, Username=sub)
    assert gone.value.response["Error"]["Code"] == "UserNotFoundException"
    # The token lives on until it expires: a retry still works, and finds the user gone.
    again = api.delete("/account", headers={**signed_in, "Idempotency-Key": unique("erase")})
    assert again.status_code == 200, again.text
    assert again.json()["user_pool"] == "absent"
