"""The local platform keeps its state across restarts, a `kill -9` mid-checkout included: the
recovery sweep then finishes or compensates every checkout that was in flight, and money,
stock and orders agree (issue 14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from checkout_support import ADDRESS
from demo_support import SHOP

from helpers import Api, product_payload, unique
from shop_local.auth import LocalIdentityProvider
from shop_local.platform import PLATFORM_FILE, control_headers, free_port

pytestmark = pytest.mark.e2e

STOCK = 40
BUYERS_IN_FLIGHT = 12


@contextmanager
def served(state: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`shop serve` on `port` with `state` as its state folder, ready; killed at the end if
    the test did not kill it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}
    log_path = state / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SHOP, "--state-dir", str(state), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 120
        while "shop: ready" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()[-5000:]
            assert time.monotonic() < deadline, log_path.read_text()[-5000:]
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


class Shop:
    """The platform as a client and an operator see it, over HTTP only."""

    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.api = Api(f"http://127.0.0.1:{port}", LocalIdentityProvider(state))

    @property
    def stripe_url(self) -> str:
        info = json.loads((self.state / PLATFORM_FILE).read_text())
        return str(info["environment"]["STRIPE_API_BASE"])

    def intents(self) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.stripe_url}/v1/payment_intents",
            params={"limit": 100},
            headers={"Authorization": "Bearer sk_test_local"},
            timeout=10,
        )
        response.raise_for_status()
        intents: list[dict[str, Any]] = response.json()["data"]
        return intents

    def control(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(
            f"{self.api.base_url}/_local/{path}",
            json=body,
            headers=control_headers(self.state),
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def checkout(self, user: str) -> str:
        response = self.api.post(
            "/checkout",
            json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
            user=user,
            headers={"Idempotency-Key": unique("key")},
        )
        assert response.status_code == 202, response.text
        checkout_id: str = response.json()["checkout_id"]
        return checkout_id

    def view(self, user: str, checkout_id: str) -> dict[str, Any]:
        response = self.api.get(f"/checkout/{checkout_id}", user=user)
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def available(self, sku: str) -> int:
        response = self.api.get(f"/inventory/{sku}")
        assert response.status_code == 200, response.text
        return int(response.json()["available"])


def stocked_product(shop: Shop, amount: int) -> tuple[str, str]:
    sku = unique("RS").upper()
    created = shop.api.post(
        "/admin/products", json=product_payload(skus=[sku], amount=amount), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    stocked = shop.api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-restart", "quantity": STOCK},
        user="admin",
        admin=True,
    )
    assert stocked.status_code == 200, stocked.text
    return created.json()["product_id"], sku


def kept(intent: dict[str, Any]) -> int:
    """What the shop holds of an intent's money: captured and not refunded."""
    charge = intent.get("latest_charge") or {}
    if not charge.get("captured"):
        return 0
    return int(charge["amount"]) - int(charge.get("amount_refunded") or 0)


def add_to_cart(shop: Shop, user: str, sku: str, quantity: int) -> None:
    response = shop.api.post("/cart/items", json={"sku": sku, "quantity": quantity}, user=user)
    assert response.status_code == 200, response.text


def test_a_platform_killed_mid_checkout_restarts_with_its_state_and_settles_every_checkout(
    tmp_path: Path,
) -> None:
    port = free_port()
    shop = Shop(tmp_path, port)
    price = 1250
    with served(tmp_path, port) as process:
        product_id, sku = stocked_product(shop, price)
        # Before the crash: one order paid, one cart waiting.
        add_to_cart(shop, "paid-before", sku, 2)
        paid_checkout = shop.checkout("paid-before")
        deadline = time.monotonic() + 60
        while (paid := shop.view("paid-before", paid_checkout))["status"] == "PENDING":
            assert time.monotonic() < deadline, paid
            time.sleep(0.2)
        assert paid["status"] == "SUCCEEDED", paid
        add_to_cart(shop, "cart-keeper", sku, 3)

        # A crowd checks out; the process dies once payments are being authorized.
        buyers = [f"in-flight-{i}" for i in range(BUYERS_IN_FLIGHT)]
        for buyer in buyers:
            add_to_cart(shop, buyer, sku, 1)
        with ThreadPoolExecutor(len(buyers)) as pool:
            in_flight = dict(zip(buyers, pool.map(shop.checkout, buyers), strict=True))
        ours = set(in_flight.values())
        deadline = time.monotonic() + 60
        while not any(i["metadata"].get("checkout_id") in ours for i in shop.intents()):
            assert time.monotonic() < deadline, "no payment was started"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    with served(tmp_path, port):
        # What existed before the crash is all there.
        assert shop.api.get(f"/products/{product_id}").status_code == 200
        cart = shop.api.get("/cart", user="cart-keeper").json()
        assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [(sku, 3)]
        order = shop.api.get(f"/orders/{paid['order_id']}", user="paid-before")
        assert order.status_code == 200, order.text
        captured = {i["metadata"].get("checkout_id"): i for i in shop.intents()}
        assert captured[paid_checkout]["status"] == "succeeded"

        # The sweep finds the checkouts whose executions died with the process (10 minutes
        # on the platform's clock) and finishes or compensates each one.
        shop.control("clock", {"offset_seconds": 3600})
        recovered = [b for b, c in in_flight.items() if shop.view(b, c)["status"] == "PENDING"]
        assert recovered, "the crash came after every checkout had ended"
        views: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 180
        while len(views) < len(in_flight):
            assert time.monotonic() < deadline, {b: shop.view(b, c) for b, c in in_flight.items()}
            shop.control("invoke", {"function": "RecoverCheckoutsFunction"})
            time.sleep(1)
            for buyer, checkout_id in in_flight.items():
                view = shop.view(buyer, checkout_id)
                if view["status"] != "PENDING":
                    views[buyer] = view
        shop.control("settle", {"timeout": 60})

        # Money, stock and orders agree.
        intents = shop.intents()
        sold = 2
        for buyer, view in views.items():
            checkout_id = in_flight[buyer]
            mine = [i for i in intents if i["metadata"].get("checkout_id") == checkout_id]
            charged = [kept(i) for i in mine if kept(i)]
            order = shop.api.get(f"/orders/ord-{checkout_id.removeprefix('co-')}", user=buyer)
            if view["status"] == "SUCCEEDED":
                sold += 1
                assert charged == [price], mine
                assert order.status_code == 200
                assert order.json()["status"] == "PLACED"
            else:
                assert view["status"] == "FAILED", view
                assert charged == [], mine
                assert all(i["status"] != "requires_capture" for i in mine), mine
                assert order.status_code == 404 or order.json()["status"] == "CANCELLED"
        assert sold > 2, "the sweep finished no checkout at all"
        assert shop.available(sku) == STOCK - sold
        audit = subprocess.run(
            [*SHOP, "--state-dir", str(tmp_path), "check-inventory"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_cleanly_stopped_platform_restarts_from_its_snapshot_and_fresh_forgets_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    shop = Shop(tmp_path, port)
    with served(tmp_path, port):
        product_id, sku = stocked_product(shop, 900)
    assert list(tmp_path.glob("dynamodb.*.journal")) == []  # a clean stop leaves a snapshot
    with served(tmp_path, port):
        assert shop.api.get(f"/products/{product_id}").status_code == 200
        assert shop.available(sku) == STOCK
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}
    fresh = subprocess.Popen(
        [*SHOP, "--state-dir", str(tmp_path), "serve", "--port", str(port), "--fresh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert fresh.stdout is not None
        for line in fresh.stdout:
            if line.startswith("shop: ready"):
                break
        assert shop.api.get(f"/products/{product_id}").status_code == 404
    finally:
        fresh.terminate()
        fresh.wait(timeout=30)


def test_check_inventory_against_a_stopped_platform_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    with served(tmp_path, port):
        pass
    audit = subprocess.run(
        [*SHOP, "--state-dir", str(tmp_path), "check-inventory"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 1
    assert audit.stdout == ""
    assert len(audit.stderr.strip().splitlines()) == 1, audit.stderr
    assert "no running platform" in audit.stderr
