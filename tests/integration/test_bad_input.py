"""Bad input gets a clear 4xx in the error shape, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import Api, assert_error, product_payload, unique


def catalog_snapshot(api: Api, category: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/products?category={category}&limit=100").json()[
        "items"
    ]
    return items


def with_variant(**changes: Any) -> dict[str, Any]:
    payload = product_payload()
    payload["variants"][0].update(changes)
    return payload


def with_price(amount: Any = 450, currency: Any = "GBP") -> dict[str, Any]:
    return with_variant(price={"amount": amount, "currency": currency})


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("malformed json", '{"name": "Mug",', 400, "BAD_REQUEST"),
    ("not an object", "[1, 2, 3]", 400, "BAD_REQUEST"),
    ("empty body", "", 400, "BAD_REQUEST"),
    ("name of the wrong type", {**product_payload(), "name": 42}, 422, "VALIDATION_FAILED"),
    ("unknown field", {**product_payload(), "colour": "red"}, 422, "VALIDATION_FAILED"),
    ("missing variants", {"name": "Mug", "category": "kitchen"}, 422, "VALIDATION_FAILED"),
    (
        "missing name",
        {k: v for k, v in product_payload().items() if k != "name"},
        422,
        "VALIDATION_FAILED",
    ),
    ("negative price", with_price(amount=-1), 422, "VALIDATION_FAILED"),
    ("fractional price", with_price(amount=4.5), 422, "VALIDATION_FAILED"),
    ("price as a string", with_price(amount="450"), 422, "VALIDATION_FAILED"),
    ("unknown currency", with_price(currency="GPB"), 422, "VALIDATION_FAILED"),
    ("lower-case currency", with_price(currency="gbp"), 422, "VALIDATION_FAILED"),
    ("unknown variant field", with_variant(stock=5), 422, "VALIDATION_FAILED"),
    (
        "repeated sku",
        {**product_payload(), "variants": product_payload()["variants"] * 2},
        422,
        "VALIDATION_FAILED",
    ),
    ("bad category", {**product_payload(), "category": "Not A Slug"}, 422, "VALIDATION_FAILED"),
    (
        "insecure image url",
        {**product_payload(), "images": ["http://x.example/a.jpg"]},
        422,
        "VALIDATION_FAILED",
    ),
    (
        "oversized body",
        {**product_payload(), "description": "x" * (257 * 1024)},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [pytest.param(body, status, code, id=name) for name, body, status, code in BAD_BODIES],
)
def test_a_bad_product_is_refused_with_a_clear_error_and_nothing_is_written(
    api: Api, body: Any, status: int, code: str
) -> None:
    category = unique("bad").lower()
    if isinstance(body, dict) and "category" in body and body["category"] == "kitchen-and-dining":
        body = {**body, "category": category}
    data = body if isinstance(body, str) else json.dumps(body)
    response = api.post(
        "/admin/products",
        data=data,
        user="alice",
        admin=True,
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, status, code)
    assert catalog_snapshot(api, category) == []


def test_validation_errors_name_the_fields_at_fault(api: Api) -> None:
    response = api.post(
        "/admin/products", json=with_price(amount=-5, currency="XXX"), user="alice", admin=True
    )
    assert_error(response, 422, "VALIDATION_FAILED")
    fields = {p["field"] for p in response.json()["error"]["details"]["problems"]}
    assert fields == {"variants.0.price.amount", "variants.0.price.currency"}


def test_a_bad_update_changes_nothing(api: Api) -> None:
    created = api.post("/admin/products", json=product_payload(), user="alice", admin=True).json()
    path = f"/admin/products/{created['product_id']}"
    for body in (with_price(amount=-1), {**product_payload(), "extra": 1}, "{oops"):
        data = body if isinstance(body, str) else json.dumps(body)
        response = api.put(path, data=data, user="alice", admin=True)
        assert 400 <= response.status_code < 500
    assert api.get(f"/products/{created['product_id']}").json() == created


def test_an_unknown_product_is_404_for_every_operation(api: Api) -> None:
    missing = unique("p-missing").lower()
    assert_error(api.get(f"/products/{missing}"), 404, "PRODUCT_NOT_FOUND")
    assert_error(
        api.put(f"/admin/products/{missing}", json=product_payload(), user="alice", admin=True),
        404,
        "PRODUCT_NOT_FOUND",
    )
    assert_error(
        api.delete(f"/admin/products/{missing}", user="alice", admin=True), 404, "PRODUCT_NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=ten", 422),
        ("cursor=not-a-cursor", 400),
        ("category=Bad%20Category", 422),
    ],
)
def test_bad_list_parameters_are_refused(api: Api, query: str, status: int) -> None:
    assert_error(api.get(f"/products?{query}"), status)


def test_a_cursor_from_one_listing_is_refused_by_another(api: Api) -> None:
    category = unique("cur").lower()
    for _ in range(2):
        api.post(
            "/admin/products", json=product_payload(category=category), user="alice", admin=True
        )
    cursor = api.get(f"/products?category={category}&limit=1").json()["cursor"]
    assert cursor
    assert_error(api.get(f"/products?limit=1&cursor={cursor}"), 400, "BAD_REQUEST")


def test_unknown_routes_and_methods_get_the_error_shape(api: Api) -> None:
    assert_error(api.get("/no/such/route"), 404, "ROUTE_NOT_FOUND")
    assert_error(api.call("PATCH", "/products"), 405, "METHOD_NOT_ALLOWED")
