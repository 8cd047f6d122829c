"""Bad input gets a clear 4xx in the error shape, and changes nothing."""

from __future__ import annotations

import json
import os
import re
import socket
from typing import Any

import pytest
import requests
from checkout_support import ADDRESS, fill_cart, stocked_sku

from helpers import Api, assert_error, invoke, product_payload, unique
from shop.inventory.service import repository as inventory_repository
from shop.inventory.service import stock_levels
from shop_local.platform import (
    CONTROL_SECRET_HEADER,
    LocalPlatform,
    control_headers,
)
from shop_local.platform import (
    DEFAULT_TEMPLATE as TEMPLATE,
)
from shop_local.template import Route, Template


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


# ------------------------------------------------------------- input that used to get through
def test_a_refused_stock_change_writes_no_shard_count(api: Api, platform: LocalPlatform) -> None:
    sku = unique("SHARD").upper()
    put = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-bad", "quantity": 5},
        user="alice",
        admin=True,
    )
    assert put.status_code == 200, put.text
    _, error = invoke(
        platform,
        "ReserveStockFunction",
        {"checkout_id": unique("co"), "lines": [{"sku": sku, "quantity": 4}]},
    )
    assert error is None
    refused = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-bad", "quantity": 2, "shards": 20},
        user="alice",
        admin=True,
    )
    assert_error(refused, 409, "BELOW_RESERVED")
    assert inventory_repository().shard_count(sku) == 1
    assert [lvl.shard for lvl in stock_levels(sku)] == [0]


def nested(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [100, 10_000])
def test_deeply_nested_json_is_a_400(api: Api, depth: int) -> None:
    response = api.post("/admin/products", data=nested(depth), user="alice", admin=True)
    assert_error(response, 400, "BAD_REQUEST")


def test_nan_is_not_json(api: Api) -> None:
    body = json.dumps(with_price()).replace('"amount": 450', '"amount": NaN')
    assert "NaN" in body
    assert_error(api.post("/admin/products", data=body, user="alice", admin=True), 400)


@pytest.mark.parametrize("sku", ["X" * 10_000, "-starts-with-a-dash", "has%20space", "a%2Fb"])
def test_a_sku_in_a_path_must_be_a_sku(api: Api, sku: str) -> None:
    assert_error(api.get(f"/inventory/{sku}"), 422, "VALIDATION_FAILED")
    body = {"warehouse_id": "wh-bad", "quantity": 1}
    refused = api.put(f"/admin/inventory/{sku}", json=body, user="alice", admin=True)
    assert_error(refused, 422, "VALIDATION_FAILED")
    problems = refused.json()["error"]["details"]["problems"]
    assert [p["field"] for p in problems] == ["path.sku"]


def test_path_parameters_are_percent_decoded(api: Api) -> None:
    created = api.post("/admin/products", json=product_payload(), user="alice", admin=True)
    product_id = created.json()["product_id"]
    assert "-" in product_id
    encoded = product_id.replace("-", "%2D")
    fetched = api.get(f"/products/{encoded}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["product_id"] == product_id


def raw_request(platform: LocalPlatform, request: bytes, *, half_close: bool = False) -> bytes:
    """Send bytes as they are (no client library would send these) and read one answer."""
    with socket.create_connection(("127.0.0.1", platform.port), timeout=10) as conn:
        conn.sendall(request)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        while not complete(answer) and (chunk := conn.recv(65536)):
            answer += chunk
        return answer


def complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"Content-Length: (\d+)", head)
    return bool(found and length and len(body) >= int(length.group(1)))


def status_and_error(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"Content-Type: application/json" in head, head
    error: dict[str, Any] = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"}
    return status, error


@pytest.mark.parametrize("length", [b"-5", b"ten", b"1e3", b"5, 6"])
def test_a_malformed_content_length_is_a_400(platform: LocalPlatform, length: bytes) -> None:
    answer = raw_request(
        platform,
        b"POST /admin/products HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}",
    )
    assert status_and_error(answer)[0] == 400


def test_a_body_shorter_than_its_length_is_a_400_not_a_hang(platform: LocalPlatform) -> None:
    answer = raw_request(
        platform,
        b"POST /admin/products HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}",
        half_close=True,
    )
    assert status_and_error(answer)[0] == 400


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW"])
def test_methods_the_api_has_no_route_for_get_json(platform: LocalPlatform, method: str) -> None:
    answer = raw_request(platform, f"{method} /products HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, error = status_and_error(answer)
    assert (status, error["code"]) == (501, "NOT_IMPLEMENTED")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /products HTTP/9\r\n\r\n", 400),
        (b"GET /products HTTP/1.1 more\r\n\r\n", 400),
        (b"GET /products HTTP/1.1\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n", 431),
    ],
)
def test_a_malformed_request_gets_json(
    platform: LocalPlatform, request_bytes: bytes, status: int
) -> None:
    assert status_and_error(raw_request(platform, request_bytes))[0] == status


# ------------------------------------------------------------------------------ idempotency
def test_a_checkout_key_reused_with_another_body_is_refused(api: Api) -> None:
    user = unique("buyer")
    fill_cart(api, user, {stocked_sku(api, 5): 1})
    key = {"Idempotency-Key": unique("k")}
    first = {"payment_method": "pm_card_visa", "shipping_address": ADDRESS}
    accepted = api.post("/checkout", json=first, user=user, headers=key)
    assert accepted.status_code == 202, accepted.text

    other_card = {**first, "payment_method": "pm_card_chargeDeclined"}
    other_address = {**first, "shipping_address": {**ADDRESS, "line1": "2 Low Street"}}
    for body in (other_card, other_address):
        assert_error(
            api.post("/checkout", json=body, user=user, headers=key), 422, "IDEMPOTENCY_KEY_REUSED"
        )
    # The same request written differently is the same request.
    reordered = json.dumps(dict(reversed(list(first.items()))), indent=4)
    again = api.post("/checkout", data=reordered, user=user, headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["checkout_id"] == accepted.json()["checkout_id"]


def test_a_repeat_with_other_whitespace_and_key_order_is_the_same_request(api: Api) -> None:
    payload = product_payload(category=unique("ws").lower())
    key = {"Idempotency-Key": unique("k"), "Content-Type": "application/json"}
    first = api.post(
        "/admin/products", data=json.dumps(payload), user="alice", admin=True, headers=key
    )
    assert first.status_code == 201, first.text
    rewritten = json.dumps(dict(sorted(payload.items(), reverse=True)), indent=2)
    again = api.post("/admin/products", data=rewritten, user="alice", admin=True, headers=key)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert len(catalog_snapshot(api, payload["category"])) == 1


# ------------------------------------------------------------------------- local controls
def control(
    platform: LocalPlatform, path: str, body: bytes | str = b"{}", *, secret: bool = True
) -> requests.Response:
    headers = control_headers(platform.state_dir) if secret else {}
    return requests.post(f"{platform.url}/_local/{path}", data=body, headers=headers, timeout=15)


@pytest.mark.parametrize("path", ["invoke", "clock", "settle", "faults"])
def test_local_controls_need_the_runs_secret(platform: LocalPlatform, path: str) -> None:
    assert_error(control(platform, path, secret=False), 403, "FORBIDDEN")
    wrong = requests.post(
        f"{platform.url}/_local/{path}",
        data=b"{}",
        headers={CONTROL_SECRET_HEADER: "guess"},
        timeout=15,
    )
    assert_error(wrong, 403, "FORBIDDEN")
    assert requests.get(f"{platform.url}/_local/sources", timeout=15).status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("clock", '{"offset_seconds": NaN}'),
        ("clock", '{"offset_seconds": Infinity}'),
        ("clock", '{"offset_seconds": "soon"}'),
        ("clock", '{"offset_seconds": true}'),
        ("clock", "[1]"),
        ("clock", "{oops"),
        ("settle", '{"timeout": "ten"}'),
        ("settle", '{"timeout": -1}'),
        ("invoke", '{"function": "NoSuchFunction"}'),
        ("invoke", '{"function": 7}'),
        ("invoke", '{"function": "GetProductFunction", "event": []}'),
        ("faults", '{"dependency": "search", "mode": "melted"}'),
        ("faults", '{"dependency": "the-moon", "mode": "down"}'),
        ("faults", '{"clear": "yes"}'),
        ("faults", '{"dependency": ["search"], "mode": "down"}'),
    ],
)
def test_bad_control_input_is_a_400_and_changes_nothing(
    platform: LocalPlatform, path: str, body: str
) -> None:
    before = os.environ.get("SHOP_CLOCK_OFFSET_SECONDS")
    assert_error(control(platform, path, body), 400, "BAD_REQUEST")
    assert os.environ.get("SHOP_CLOCK_OFFSET_SECONDS") == before


def routes_with_path_parameters() -> list[Route]:
    return [r for r in Template(TEMPLATE).routes() if "{" in r.path]


@pytest.mark.parametrize(
    "route", [pytest.param(r, id=f"{r.method} {r.path}") for r in routes_with_path_parameters()]
)
def test_a_10000_character_path_parameter_is_refused_with_a_4xx(api: Api, route: Route) -> None:
    path = re.sub(r"{\w+\+?}", "X" * 10_000, route.path)
    response = api.call(route.method, path, json={}, user="alice", admin=True)
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code)
