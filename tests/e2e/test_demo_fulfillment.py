"""What `make run` does with an order: one across the demo's two warehouses shows two shipments,
which the warehouse packs and ships, whose tracking reaches DELIVERED through the carrier's
webhooks; a return then refunds and restocks, and `shop check-inventory` agrees afterwards."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from demo_support import available_now, check_inventory, shop_token, until

from shop_local.demo import demo_stock
from shop_local.platform import control_headers

pytestmark = pytest.mark.e2e

ADDRESS = {
    "name": "Dee Mo",
    "line1": "2 Market Street",
    "city": "Manchester",
    "postal_code": "M1 1AA",
    "country": "GB",
}


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()


def one_of_each_warehouse(url: str) -> tuple[str, str]:
    """A SKU kept in London only, and one kept mostly in Manchester: an order of both ships
    from both warehouses."""
    london = manchester = None
    cursor = None
    while london is None or manchester is None:
        page = requests.get(
            f"{url}/products",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
            timeout=30,
        ).json()
        for product in page["items"]:
            for variant in product["variants"]:
                sku = variant["sku"]
                levels = {w: q for _, w, q in demo_stock(sku)}
                is_london = len(levels) == 1 and london is None
                is_manchester = (
                    levels.get("wh-manchester", 0) > levels["wh-london"] and manchester is None
                )
                if not (is_london or is_manchester) or available_now(url, sku) is None:
                    continue  # `demo_stock` hashes any SKU: another test's product has none
                if is_london:
                    london = sku
                else:
                    manchester = sku
        cursor = page["cursor"]
        assert cursor, "the demo has SKUs of both kinds"
    return london, manchester


def test_an_order_across_the_demos_two_warehouses_is_shipped_delivered_and_returned(
    demo_shop: tuple[str, Path],
) -> None:
    url, state = demo_shop
    # The demo's carrier moves a parcel every 30 s; a few tenths of a second here.
    fast = requests.post(
        f"{url}/_local/carrier", json={"hop_seconds": 0.5}, headers=control_headers(state)
    )
    assert fast.status_code == 200, fast.text
    buyer = Client(url, shop_token(state, f"demo-buyer-{uuid.uuid4().hex[:6]}"))
    warehouse = Client(url, shop_token(state, "warehouse-lead", admin=True))
    london, manchester = one_of_each_warehouse(url)
    available = {
        sku: buyer.ok("GET", f"/inventory/{sku}")["available"] for sku in (london, manchester)
    }

    for sku in (london, manchester):
        buyer.ok("POST", "/cart/items", json={"sku": sku, "quantity": 1})
    started = buyer.ok(
        "POST",
        "/checkout",
        json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    checkout = until(
        lambda: (
            (v := buyer.ok("GET", f"/checkout/{started['checkout_id']}"))["status"] != "PENDING"
            and v
        ),
        "the checkout ends",
    )
    assert checkout["status"] == "SUCCEEDED", checkout
    order_path = f"/orders/{checkout['order_id']}"
    order = until(
        lambda: (o := buyer.ok("GET", order_path))["shipments"] and o, "shipments are planned"
    )
    assert sorted(s["warehouse_id"] for s in order["shipments"]) == ["wh-london", "wh-manchester"]

    for shipment in order["shipments"]:
        # The warehouse's queue, page by page (other demo orders may be waiting in it too).
        waiting: list[str] = []
        cursor = None
        while True:
            query: dict[str, Any] = {
                "warehouse_id": shipment["warehouse_id"],
                "status": "PENDING",
                "limit": 100,
            }
            if cursor:
                query["cursor"] = cursor
            page = warehouse.ok("GET", "/admin/shipments", params=query)
            waiting += [s["shipment_id"] for s in page["items"]]
            cursor = page.get("cursor")
            if not cursor:
                break
        assert shipment["shipment_id"] in waiting
        warehouse.ok("POST", f"/admin/shipments/{shipment['shipment_id']}/pack")
        shipped = warehouse.ok("POST", f"/admin/shipments/{shipment['shipment_id']}/ship")
        assert shipped["tracking_number"]
    order = until(
        lambda: (o := buyer.ok("GET", order_path))["status"] == "DELIVERED" and o,
        "the carrier's webhooks deliver both parcels",
    )
    for shipment in order["shipments"]:
        assert shipment["history"][-1]["status"] == "DELIVERED"
        assert "local: delivered" in shipment["history"][-1]["note"]

    price = next(line["unit_price"] for line in order["lines"] if line["sku"] == london)
    asked = buyer.ok(
        "POST",
        f"{order_path}/returns",
        json={"lines": [{"sku": london, "quantity": 1}], "reason": "not as pictured"},
    )
    assert asked["status"] == "REQUESTED"
    assert asked["refund"] == price
    warehouse.ok("POST", f"/admin/returns/{asked['return_id']}/receive")
    order = until(
        lambda: (o := buyer.ok("GET", order_path))["returns"][0]["status"] == "REFUNDED" and o,
        "the return is refunded",
    )
    assert order["status"] == "PARTIALLY_RETURNED"
    after = {sku: buyer.ok("GET", f"/inventory/{sku}")["available"] for sku in (london, manchester)}
    assert after == {london: available[london], manchester: available[manchester] - 1}

    check = check_inventory(state)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "agree" in check.stdout
