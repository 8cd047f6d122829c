"""HTTP caching at the edge, through the local gateway: every read carries an ETag and says who
may keep it; a client that sends the ETag back gets 304 without a body while the answer is the
same, and the new answer once it changed. Public reads may be kept by a CDN; a shopper's own
never by a shared cache."""

from __future__ import annotations

import time
from typing import Any

import pytest

from helpers import Api, product_payload, unique
from shop.http import PUBLIC_CACHE
from shop_local.platform import LocalPlatform


def created(api: Api) -> dict[str, Any]:
    response = api.post("/admin/products", json=product_payload(), user="alice", admin=True)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def test_a_product_read_again_with_its_etag_is_a_304_without_a_body(api: Api) -> None:
    product = created(api)
    path = f"/products/{product['product_id']}"
    first = api.get(path)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert first.headers["Cache-Control"] == PUBLIC_CACHE
    assert api.get(path).headers["ETag"] == etag  # the same answer, the same tag
    for sent in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        again = api.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == PUBLIC_CACHE
    stale = api.get(path, headers={"If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


def test_a_changed_product_answers_its_new_self_to_the_old_etag(api: Api) -> None:
    product = created(api)
    path = f"/products/{product['product_id']}"
    etag = api.get(path).headers["ETag"]
    change = product_payload(skus=[product["variants"][0]["sku"]], amount=999)
    updated = api.put(
        f"/admin/products/{product['product_id']}",
        json={**change, "version": 1},
        user="alice",
        admin=True,
    )
    assert updated.status_code == 200, updated.text
    after = api.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["variants"][0]["price"]["amount"] == 999
    assert after.headers["ETag"] != etag


def test_catalog_pages_and_suggestions_are_public_and_conditional(api: Api) -> None:
    created(api)
    for path in ("/products?limit=5", "/search/suggest?q=enam"):
        first = api.get(path)
        assert first.status_code == 200, (path, first.text)
        assert first.headers["Cache-Control"].startswith("public"), path
        again = api.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path


def test_a_shoppers_own_reads_are_never_kept_by_a_shared_cache(api: Api) -> None:
    user = unique("shopper")
    for path in ("/cart", "/orders", "/recommendations"):
        first = api.get(path, user=user)
        assert first.status_code == 200, (path, first.text)
        assert first.headers["Cache-Control"].startswith("private"), path
        assert "ETag" in first.headers
    cart = api.get("/cart", user=user)
    again = api.get("/cart", user=user, headers={"If-None-Match": cart.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"].startswith("private")


def test_errors_and_writes_carry_no_etag(api: Api) -> None:
    missing = api.get("/products/p-nothing-here")
    assert missing.status_code == 404
    assert "ETag" not in missing.headers
    posted = api.post("/admin/products", json=product_payload(), user="alice", admin=True)
    assert posted.status_code == 201
    assert "ETag" not in posted.headers


def test_a_warm_function_serves_a_product_from_memory_until_its_ttl_has_passed(
    api: Api, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HotReadCacheSeconds=5 (the template's default) for GetProductFunction; the suite runs
    # with 0, to read its own writes.
    variables = platform.functions.environments["GetProductFunction"]
    monkeypatch.setitem(variables, "HOT_READ_CACHE_SECONDS", "5")
    product = created(api)
    path = f"/products/{product['product_id']}"
    read_at = time.monotonic()
    first = api.get(path).json()
    change = product_payload(skus=[product["variants"][0]["sku"]], amount=777)
    updated = api.put(
        f"/admin/products/{product['product_id']}",
        json={**change, "version": 1},
        user="alice",
        admin=True,
    )
    assert updated.status_code == 200, updated.text

    assert api.get(path).json() == first  # within the TTL: the instance's copy
    time.sleep(max(0.0, read_at + 5.2 - time.monotonic()))
    after = api.get(path).json()  # past it: the table's
    assert after["variants"][0]["price"]["amount"] == 777
    assert after["version"] == 2
