"""The OpenAPI document describes the API that runs: it is generated from template.yaml and the
handlers' contracts and models (`shop openapi`), the committed openapi.yaml is that output, and
real responses of the running platform match the schemas it documents for them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from openapi_spec_validator import validate

from helpers import Api, product_payload
from shop.catalog.models import ProductDraft
from shop.inventory.models import SetStock
from shop.money import MAX_AMOUNT, Money
from shop.orders.models import ShippingAddress
from shop_local import openapi
from shop_local.cli import main
from shop_local.platform import LocalPlatform
from shop_local.template import Template

REPO = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "openapi.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def served(api: Api) -> dict[str, Any]:
    document: dict[str, Any] = api.get("/openapi.json").json()
    return document


def template_routes() -> set[tuple[str, str]]:
    return {(r.method.lower(), r.path) for r in Template(REPO / "template.yaml").routes()}


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def request_schema(document: dict[str, Any], method: str, path: str) -> str:
    ref: str = document["paths"][path][method]["requestBody"]["content"]["application/json"][
        "schema"
    ]["$ref"]
    return ref.removeprefix(SCHEMAS)


def assert_documented(
    document: dict[str, Any], method: str, path: str, response: requests.Response
) -> None:
    """The response's body matches the schema the document gives its operation and status,
    and an error's code is one the document lists for that response."""
    operation = document["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path} does not document {response.status_code}"
    schema = documented["content"]["application/json"]["schema"]
    # The operation's schema, resolved against the document's components.
    root = {"components": document["components"], **schema}
    jsonschema.Draft202012Validator(root).validate(response.json())
    if "x-error-codes" in documented:
        assert response.json()["error"]["code"] in documented["x-error-codes"]


# ----------------------------------------------------------------------------- generated
def test_the_committed_document_is_what_the_code_generates(committed: dict[str, Any]) -> None:
    assert committed == openapi.build(), (
        "openapi.yaml disagrees with the code: run `.venv/bin/shop openapi` and commit it"
    )


def test_shop_openapi_has_nothing_to_write(capsys: pytest.CaptureFixture[str]) -> None:
    # The same check for every generated contract file, byte for byte: openapi.yaml and the
    # events' JSON Schemas (events/schemas/, from shop.event_catalog).
    status = main(["openapi", "--check"])
    assert status == 0, (
        f"{capsys.readouterr().out}run `.venv/bin/shop openapi` and commit the files"
    )


def test_the_committed_document_is_valid_openapi_3(committed: dict[str, Any]) -> None:
    validate(committed)
    assert committed["openapi"].startswith("3.")


def test_the_served_document_is_the_committed_one_on_this_platforms_server(
    served: dict[str, Any], committed: dict[str, Any], platform: LocalPlatform
) -> None:
    validate(served)
    assert served["servers"] == [{"url": platform.url, "description": "this local platform"}]
    assert {**served, "servers": committed["servers"]} == committed


# ----------------------------------------------------------------------------- the routes
def test_every_template_route_is_documented_and_nothing_else(committed: dict[str, Any]) -> None:
    documented = {
        (method, path)
        for path, operations in committed["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert documented == template_routes()


def test_admin_routes_are_documented_as_needing_a_token_and_public_ones_not(
    committed: dict[str, Any],
) -> None:
    public = {
        (r.method.lower(), r.path)
        for r in Template(REPO / "template.yaml").routes()
        if r.authorizer is None
    }
    for path, operations in committed["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            needs_token = operation.get("security", committed.get("security", [])) != []
            assert needs_token == ((method, path) not in public), (method, path)


def test_path_parameters_are_declared_for_every_templated_segment(
    committed: dict[str, Any],
) -> None:
    refs = committed["components"]["parameters"]
    for path, operations in committed["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            declared = {
                (refs[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p)["name"]
                for p in operation.get("parameters", [])
                if (refs[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p)["in"] == "path"
            }
            assert declared == names, (method, path)


# ----------------------------------------------------------------------------- the models
def test_money_has_the_models_maximum(committed: dict[str, Any]) -> None:
    amount = component(committed, "Money")["properties"]["amount"]
    assert (
        amount["maximum"]
        == MAX_AMOUNT
        == Money.model_json_schema()["properties"]["amount"]["maximum"]
    )


def test_an_address_needs_the_fields_the_model_needs_and_not_blank(
    committed: dict[str, Any],
) -> None:
    request = request_schema(committed, "post", "/checkout")
    address_ref = component(committed, request)["properties"]["shipping_address"]["$ref"]
    address = component(committed, address_ref.removeprefix(SCHEMAS))
    model = ShippingAddress.model_json_schema()
    assert address["required"] == model["required"]
    for field in ("name", "line1", "city", "postal_code"):
        assert address["properties"][field]["minLength"] == 1, field


def test_stock_quantities_have_the_models_maximum(committed: dict[str, Any]) -> None:
    quantity = component(committed, request_schema(committed, "put", "/admin/inventory/{sku}"))[
        "properties"
    ]["quantity"]
    assert quantity["maximum"] == SetStock.model_json_schema()["properties"]["quantity"]["maximum"]


def test_creating_and_replacing_a_product_take_their_own_bodies(
    committed: dict[str, Any],
) -> None:
    create = component(committed, request_schema(committed, "post", "/admin/products"))
    replace = component(committed, request_schema(committed, "put", "/admin/products/{product_id}"))
    draft = set(ProductDraft.model_fields)
    assert set(create["properties"]) == draft | {"product_id"}
    assert set(replace["properties"]) == draft | {"version"}


def test_every_error_code_is_documented(committed: dict[str, Any]) -> None:
    codes = set(component(committed, "ErrorCode")["enum"])
    listed = {
        code
        for operations in committed["paths"].values()
        for operation in operations.values()
        for response in operation["responses"].values()
        for code in response.get("x-error-codes", [])
    }
    assert listed <= codes
    assert {"PRODUCT_NOT_FOUND", "SKU_TAKEN", "IDEMPOTENCY_KEY_REUSED", "ROUTE_NOT_FOUND"} <= codes


# ----------------------------------------------------------------------------- real responses
def test_a_created_product_matches_its_documented_schema(
    api: Api, committed: dict[str, Any]
) -> None:
    created = api.post("/admin/products", json=product_payload(), user="alice", admin=True)
    assert created.status_code == 201, created.text
    assert_documented(committed, "post", "/admin/products", created)
    fetched = api.get(f"/products/{created.json()['product_id']}")
    assert fetched.status_code == 200
    assert_documented(committed, "get", "/products/{product_id}", fetched)


def test_a_page_of_products_matches_its_documented_schema(
    api: Api, committed: dict[str, Any]
) -> None:
    api.post("/admin/products", json=product_payload(), user="alice", admin=True)
    page = api.get("/products?limit=2")
    assert page.status_code == 200
    assert_documented(committed, "get", "/products", page)


def test_errors_match_the_documented_schema_and_codes(api: Api, committed: dict[str, Any]) -> None:
    missing = api.get("/products/p-no-such-product")
    assert missing.status_code == 404
    assert_documented(committed, "get", "/products/{product_id}", missing)
    invalid = api.post("/admin/products", json={"name": ""}, user="alice", admin=True)
    assert invalid.status_code == 422
    assert_documented(committed, "post", "/admin/products", invalid)
    anonymous = api.post("/admin/products", json=product_payload())
    assert anonymous.status_code == 401
    assert_documented(committed, "post", "/admin/products", anonymous)


def test_a_guest_cart_and_a_stock_change_match_their_documented_schemas(
    api: Api, committed: dict[str, Any]
) -> None:
    guest = api.post("/guest-cart")
    assert guest.status_code == 201, guest.text
    assert_documented(committed, "post", "/guest-cart", guest)
    sku = product_payload()["variants"][0]["sku"]
    product = product_payload(skus=[sku])
    assert api.post("/admin/products", json=product, user="alice", admin=True).status_code == 201
    stocked = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "london", "quantity": 5},
        user="alice",
        admin=True,
    )
    assert stocked.status_code == 200, stocked.text
    assert_documented(committed, "put", "/admin/inventory/{sku}", stocked)
