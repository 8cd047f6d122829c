"""Checkout tests' shared steps and the invariants every checkout must leave behind."""

from __future__ import annotations

import time
from typing import Any

from helpers import Api, emulator_client, product_payload, unique
from shop.inventory.audit import audit
from shop.inventory.service import get_reservation
from shop.payments.service import stripe_client
from shop_local.platform import LocalPlatform

ADDRESS = {
    "name": "Ann Buyer",
    "line1": "1 High Street",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}


def stocked_sku(api: Api, quantity: int = 10, amount: int = 1250) -> str:
    sku = unique("CO").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku], amount=amount), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    stocked = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-co", "quantity": quantity},
        user="admin",
        admin=True,
    )
    assert stocked.status_code == 200, stocked.text
    return sku


def fill_cart(api: Api, user: str, lines: dict[str, int]) -> dict[str, Any]:
    for sku, quantity in lines.items():
        response = api.post("/cart/items", json={"sku": sku, "quantity": quantity}, user=user)
        assert response.status_code == 200, response.text
    cart: dict[str, Any] = api.get("/cart", user=user).json()
    return cart


def start(api: Api, user: str, payment_method: str = "pm_card_visa", key: str | None = None) -> str:
    response = api.post(
        "/checkout",
        json={"payment_method": payment_method, "shipping_address": ADDRESS},
        user=user,
        headers={"Idempotency-Key": key or unique("key")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    checkout_id: str = response.json()["checkout_id"]
    return checkout_id


def wait_for(api: Api, user: str, checkout_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view: dict[str, Any] = api.get(f"/checkout/{checkout_id}", user=user).json()
        if view["status"] != "PENDING":
            return view
        time.sleep(0.2)
    raise AssertionError(f"checkout {checkout_id} still PENDING after {timeout}s")


def intents_of(checkout_id: str) -> list[Any]:
    """Every PaymentIntent Stripe holds for this checkout (to count charges)."""
    found = []
    for intent in stripe_client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        if (intent.to_dict().get("metadata") or {}).get("checkout_id") == checkout_id:
            found.append(intent)
    return found


def charged_and_refunded(intent: Any) -> tuple[int, int]:
    charge = intent.latest_charge
    if charge is None:
        return 0, 0
    if isinstance(charge, str):
        charge = stripe_client().v1.charges.retrieve(charge)
    captured = charge.amount if charge.captured else 0
    return captured, charge.amount_refunded or 0


def order_status(platform: LocalPlatform, order_id: str) -> str | None:
    item = emulator_client(platform, "dynamodb").get_item(
        TableName=platform.environment["ORDERS_TABLE"], Key={"pk": {"S": f"ORDER#{order_id}"}}
    )
    return item["Item"]["status"]["S"] if "Item" in item else None


def assert_invariants(
    api: Api,
    platform: LocalPlatform,
    user: str,
    checkout_id: str,
    view: dict[str, Any],
    cart_before: dict[str, Any],
) -> None:
    """Nothing lost, nothing oversold, nothing charged twice."""
    order_id = "ord-" + checkout_id.removeprefix("co-")
    intents = intents_of(checkout_id)
    assert len(intents) <= 1, "one checkout, at most one PaymentIntent"
    reservation = get_reservation(checkout_id)
    cart_after = api.get("/cart", user=user).json()
    before = {line["sku"]: line["quantity"] for line in cart_before["lines"]}
    after = {line["sku"]: line["quantity"] for line in cart_after["lines"]}
    if view["status"] == "SUCCEEDED":
        assert view["order_id"] == order_id
        assert order_status(platform, order_id) == "PLACED"
        (intent,) = intents
        captured, refunded = charged_and_refunded(intent)
        assert (captured, refunded) == (view["total"]["amount"], 0)
        assert reservation is not None
        assert reservation.status == "COMMITTED"
        bought = {line["sku"]: line["quantity"] for line in view["lines"]}
        expected = {s: q - bought.get(s, 0) for s, q in before.items() if q - bought.get(s, 0) > 0}
        assert after == expected
    else:
        assert view["status"] == "FAILED"
        assert order_status(platform, order_id) in (None, "CANCELLED")
        for intent in intents:
            captured, refunded = charged_and_refunded(intent)
            assert captured == refunded, "a failed checkout keeps no money"
            assert intent.status in ("canceled", "succeeded", "requires_payment_method")
        assert reservation is None or reservation.status in ("RELEASED", "EXPIRED")
        assert after == before
    assert audit() == []
