"""The catalog through the local gateway: what an administrator and a shopper can do."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
from event_support import BusObserver

from helpers import Api, assert_error, product_payload, unique
from shop_local.platform import LocalPlatform

REPO = Path(__file__).resolve().parents[2]


def create(api: Api, payload: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    response = api.post(
        "/admin/products", json=payload or product_payload(), user="alice", admin=True, **kwargs
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_admin_creates_a_product_that_anyone_can_then_get(api: Api) -> None:
    product = create(api)
    fetched = api.get(f"/products/{product['product_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == product
    assert product["version"] == 1
    assert product["status"] == "active"
    assert product["variants"][0]["price"] == {"amount": 450, "currency": "GBP"}


def test_listing_pages_with_a_cursor_and_filters_by_category(api: Api) -> None:
    category = unique("cat").lower()
    ids = {create(api, product_payload(category=category))["product_id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = f"/products?category={category}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(query).json()
        seen += [p["product_id"] for p in page["items"]]
        assert all(p["category"] == category for p in page["items"])
        pages += 1
        cursor = page["cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)  # every product once, in product-id order
    assert seen == sorted(seen)
    assert pages >= 3


def test_listing_everything_includes_new_products(api: Api) -> None:
    product = create(api)
    seen: set[str] = set()
    cursor = None
    while True:
        page = api.get("/products?limit=100" + (f"&cursor={cursor}" if cursor else "")).json()
        seen |= {p["product_id"] for p in page["items"]}
        cursor = page["cursor"]
        if not cursor:
            break
    assert product["product_id"] in seen


def test_an_update_replaces_the_product_and_bumps_its_version(api: Api) -> None:
    product = create(api)
    change = product_payload(skus=[product["variants"][0]["sku"]], amount=999)
    change["name"] = "Large Enamel Mug"
    updated = api.put(
        f"/admin/products/{product['product_id']}",
        json={**change, "version": 1},
        user="alice",
        admin=True,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    fetched = api.get(f"/products/{product['product_id']}").json()
    assert fetched["name"] == "Large Enamel Mug"
    assert fetched["variants"][0]["price"]["amount"] == 999


def test_an_update_with_a_stale_version_is_a_conflict_and_changes_nothing(api: Api) -> None:
    product = create(api)
    change = {**product_payload(), "version": 7}
    response = api.put(
        f"/admin/products/{product['product_id']}", json=change, user="alice", admin=True
    )
    assert_error(response, 409, "VERSION_CONFLICT")
    assert api.get(f"/products/{product['product_id']}").json() == product


def test_a_sku_cannot_belong_to_two_products(api: Api) -> None:
    sku = unique("SHARED").upper()
    create(api, product_payload(skus=[sku]))
    response = api.post(
        "/admin/products", json=product_payload(skus=[sku]), user="alice", admin=True
    )
    assert_error(response, 409, "SKU_TAKEN")
    assert response.json()["error"]["details"]["skus"] == [sku]


def test_removing_a_variant_frees_its_sku(api: Api) -> None:
    keep, drop = unique("KEEP").upper(), unique("DROP").upper()
    product = create(api, product_payload(skus=[keep, drop]))
    response = api.put(
        f"/admin/products/{product['product_id']}",
        json=product_payload(skus=[keep]),
        user="alice",
        admin=True,
    )
    assert response.status_code == 200, response.text
    create(api, product_payload(skus=[drop]))  # the freed SKU can be sold by another product


def test_archiving_takes_a_product_out_of_listings_but_keeps_it_readable(api: Api) -> None:
    category = unique("arch").lower()
    product = create(api, product_payload(category=category))
    archived = api.delete(f"/admin/products/{product['product_id']}", user="alice", admin=True)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    again = api.delete(f"/admin/products/{product['product_id']}", user="alice", admin=True)
    assert again.status_code == 200
    assert again.json()["version"] == archived.json()["version"]
    assert api.get(f"/products?category={category}").json()["items"] == []
    assert api.get(f"/products/{product['product_id']}").json()["status"] == "archived"


def test_a_repeated_create_with_one_idempotency_key_creates_one_product(api: Api) -> None:
    category = unique("idem").lower()
    payload = product_payload(category=category)
    key = {"Idempotency-Key": unique("key")}
    first = create(api, payload, headers=key)
    second = create(api, payload, headers=key)
    assert second == first
    assert len(api.get(f"/products?category={category}").json()["items"]) == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": unique("key")}
    create(api, headers=key)
    response = api.post(
        "/admin/products", json=product_payload(), user="alice", admin=True, headers=key
    )
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_product_changes_are_published_on_the_event_bus(api: Api, platform: LocalPlatform) -> None:
    pattern = {"source": ["shop.catalog"], "detail-type": ["ProductChanged"]}
    with BusObserver(platform, "catalog", pattern) as observer:
        product = create(api, headers={"X-Correlation-Id": "trace-me-123"})
        api.delete(f"/admin/products/{product['product_id']}", user="alice", admin=True)

        seen: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 15
        while len(seen) < 2 and time.monotonic() < deadline:
            for envelope in observer.envelopes(wait_seconds=1):
                detail = envelope["detail"]
                if detail["data"]["product_id"] == product["product_id"]:
                    seen[detail["data"]["version"]] = detail
    schema = json.loads((REPO / "events" / "schemas" / "ProductChanged.json").read_text())
    for detail in seen.values():
        jsonschema.validate(detail, schema)
    assert seen[1]["data"]["change"] == "created"
    assert seen[1]["correlation_id"] == "trace-me-123"
    assert seen[1]["event_id"] == f"ProductChanged:{product['product_id']}:1"
    assert seen[2]["data"]["change"] == "archived"
