"""Fulfillment tests' shared steps: an order placed across warehouses, the warehouse's and the
carrier's part, and the invariants every scenario must leave behind."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from checkout_support import charged_and_refunded, fill_cart, intents_of, start, wait_for

from helpers import Api, emulator_client, product_payload, unique
from shop.fulfillment.models import RANK as RANKS
from shop.inventory.audit import audit
from shop.inventory.service import stock_levels
from shop_local.platform import LocalPlatform

PRICE = 1250


@contextmanager
def moved_clock(seconds: float) -> Iterator[None]:
    """The platform's clock `seconds` ahead (it runs in this process), then back."""
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(seconds)
    try:
        yield
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")


def stock(api: Api, where: dict[str, int], amount: int = PRICE) -> str:
    """A new product's SKU, stocked in each warehouse of `where` with its quantity."""
    sku = unique("FF").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku], amount=amount), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    for warehouse, quantity in where.items():
        stocked = api.put(
            f"/admin/inventory/{sku}",
            json={"warehouse_id": warehouse, "quantity": quantity},
            user="admin",
            admin=True,
        )
        assert stocked.status_code == 200, stocked.text
    return sku


def on_hand(sku: str) -> int:
    return sum(level.on_hand for level in stock_levels(sku))


def place_order(api: Api, user: str, lines: dict[str, int]) -> dict[str, Any]:
    """Check out `lines` and wait for the order's shipments to be planned."""
    fill_cart(api, user, lines)
    view = wait_for(api, user, start(api, user))
    assert view["status"] == "SUCCEEDED", view
    return wait_for_order(api, user, view["order_id"], lambda o: bool(o["shipments"]))


def wait_for_order(
    api: Api,
    user: str,
    order_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    order: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/orders/{order_id}", user=user)
        assert response.status_code == 200, response.text
        order = response.json()
        if done(order):
            return order
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} did not get there in {timeout}s: {order}")


def wait_for_claims(platform: LocalPlatform, order: dict[str, Any], timeout: float = 60) -> None:
    """Until every refund execution of the order's claims has ended, retries included (a claim
    can read REFUNDED while its last step is still answering)."""
    sfn = emulator_client(platform, "stepfunctions")
    machine = platform.environment["REFUND_STATE_MACHINE_ARN"]
    names = tuple(
        str(c.get("cancellation_id") or c.get("return_id")).replace(".", "_")
        for c in [*order["cancellations"], *order["returns"]]
    )
    deadline = time.monotonic() + timeout
    while names:
        running = [
            e["name"]
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine, statusFilter="RUNNING"
            )
            for e in page["executions"]
            if e["name"].startswith(names)
        ]
        if not running:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"refunds still running after {timeout}s: {running}")
        time.sleep(0.1)


def cancel(
    api: Api, user: str, order_id: str, key: str | None = None, reason: str = "changed my mind"
) -> Any:
    """The customer's cancel request, with an Idempotency-Key of its own unless given one."""
    return api.post(
        f"/orders/{order_id}/cancel",
        json={"reason": reason},
        user=user,
        headers={"Idempotency-Key": key or unique("cancel")},
    )


def admin_post(api: Api, path: str, body: Any = None) -> Any:
    return api.post(path, json=body, user="warehouse-lead", admin=True)


def pack_and_ship(api: Api, shipment_id: str) -> dict[str, Any]:
    packed = admin_post(api, f"/admin/shipments/{shipment_id}/pack")
    assert packed.status_code == 200, packed.text
    shipped = admin_post(api, f"/admin/shipments/{shipment_id}/ship", {"carrier": "local"})
    assert shipped.status_code == 200, shipped.text
    body: dict[str, Any] = shipped.json()
    return body


def statuses(order: dict[str, Any]) -> dict[str, str]:
    return {s["warehouse_id"]: s["status"] for s in order["shipments"]}


def all_delivered(order: dict[str, Any]) -> bool:
    return all(s["status"] in ("DELIVERED", "CANCELLED") for s in order["shipments"])


def settled(order: dict[str, Any]) -> bool:
    claims = [*order["returns"], *order["cancellations"]]
    return all(c["status"] in ("REFUNDED", "STALLED") for c in claims)


def assert_fulfillment_invariants(
    platform: LocalPlatform, order: dict[str, Any], stock_before: dict[str, int]
) -> None:
    """Units, money and statuses agree: nothing ships more than was ordered, nothing is
    restocked twice, no refund exceeds what was paid, and the ledger re-derives every figure."""
    ordered = Counter[str]()
    for line in order["lines"]:
        ordered[line["sku"]] += line["quantity"]
    planned = Counter[str]()
    cancelled = Counter[str]()
    for shipment in order["shipments"]:
        for line in shipment["lines"]:
            planned[line["sku"]] += line["quantity"]
            if shipment["status"] == "CANCELLED":
                cancelled[line["sku"]] += line["quantity"]
    assert planned == ordered, "the shipments carry exactly what was ordered"
    returned = Counter[str]()
    for claim in order["returns"]:
        if claim["status"] == "REFUNDED":
            for line in claim["lines"]:
                returned[line["sku"]] += line["quantity"]
    for sku, before in stock_before.items():
        sold = ordered[sku] - cancelled[sku] - returned[sku]
        assert on_hand(sku) == before - sold, f"{sku}: on hand = before - kept by the customer"
    claims = [*order["returns"], *order["cancellations"]]
    assert all(c["status"] == "REFUNDED" for c in claims if c["status"] != "REQUESTED"), claims
    (intent,) = intents_of(order["checkout_id"])
    captured, refunded = charged_and_refunded(intent)
    assert captured == order["total"]["amount"]
    refunds = sum(
        c["refund"]["amount"]
        for c in [*order["returns"], *order["cancellations"]]
        if c["status"] == "REFUNDED"
    )
    assert refunded == refunds <= captured, "every settled claim refunded once, no more"
    for shipment in order["shipments"]:
        ranks = [RANKS[h["status"]] for h in shipment["history"]]
        assert ranks == sorted(set(ranks)), f"a shipment only moves forward: {shipment['history']}"
    assert audit() == []
