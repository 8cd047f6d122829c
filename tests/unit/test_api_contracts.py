"""Each API handler's declared contract (`@api_handler(body=, query=, responses=)`) is what its
code does, so that openapi.yaml, generated from the contracts, describes the running API."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shop.errors import ProductNotFound, ShopError, ValidationFailed, catalogue
from shop_local.openapi import ContractError, Operation, build, load_overlay, merge, operations
from shop_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = operations(Template(ROOT / "template.yaml"))
HANDLERS = {op.handler_file: op for op in OPERATIONS}  # one per function, whatever its routes


def calls_of(op: Operation, method: str) -> list[object]:
    """The objects passed to `request.<method>(X)` in the handler's module."""
    module = ast.parse(op.handler_file.read_text())
    namespace = vars(op.module)
    return [
        namespace[node.args[0].id]
        for node in ast.walk(module)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and node.args
        and isinstance(node.args[0], ast.Name)
    ]


def answered_statuses(op: Operation) -> set[int]:
    """The literal statuses of the handler's `ApiResponse(<status>, ...)`."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(op.handler_file.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "ApiResponse"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, int)
    }


@pytest.mark.parametrize("op", HANDLERS.values(), ids=lambda op: op.handler_file.stem)
def test_a_handler_parses_exactly_the_body_it_declares(op: Operation) -> None:
    parsed = calls_of(op, "json_body")
    assert parsed == ([op.contract.body] if op.contract.body else [])


@pytest.mark.parametrize("op", HANDLERS.values(), ids=lambda op: op.handler_file.stem)
def test_a_handler_parses_exactly_the_query_it_declares(op: Operation) -> None:
    parsed = calls_of(op, "query_params")
    assert parsed == ([op.contract.query] if op.contract.query else [])


@pytest.mark.parametrize("op", HANDLERS.values(), ids=lambda op: op.handler_file.stem)
def test_a_handler_answers_only_the_statuses_it_declares(op: Operation) -> None:
    assert answered_statuses(op) == set(op.contract.responses)


@pytest.mark.parametrize("error", [ShopError("boom"), ProductNotFound("no product p-1")])
def test_every_shop_error_body_is_the_documented_error_shape(error: ShopError) -> None:
    document = build()
    root = {"components": document["components"], "$ref": "#/components/schemas/Error"}
    jsonschema.Draft202012Validator(root).validate(error.to_body())


def test_the_documented_error_codes_are_the_whole_catalogue() -> None:
    codes = set(build()["components"]["schemas"]["ErrorCode"]["enum"])
    assert {error.code for error in catalogue()} <= codes
    assert ValidationFailed.code in codes


def test_the_overlay_cannot_describe_a_route_the_template_does_not_have() -> None:
    overlay = load_overlay()
    overlay["document"]["paths"]["/no-such-route"] = {"get": {"summary": "gone"}}
    with pytest.raises(ContractError, match="/no-such-route"):
        build(overlay=overlay)


def test_the_overlay_cannot_describe_a_field_a_model_does_not_have() -> None:
    generated: dict[str, Any] = {
        "components": {"schemas": {"Money": {"properties": {"amount": {}}}}}
    }
    overlay = {
        "components": {"schemas": {"Money": {"properties": {"cents": {"description": "x"}}}}}
    }
    with pytest.raises(ContractError, match="Money/properties/cents"):
        merge(generated, overlay)


@pytest.mark.parametrize(
    ("amount", "refusal"),
    [({"maximum": 5}, "replaces"), ({"multipleOf": 5}, "belongs in the model")],
)
def test_the_overlay_cannot_change_a_models_constraints(
    amount: dict[str, Any], refusal: str
) -> None:
    generated: dict[str, Any] = {
        "components": {"schemas": {"Money": {"properties": {"amount": {"maximum": 10}}}}}
    }
    overlay = {"components": {"schemas": {"Money": {"properties": {"amount": amount}}}}}
    with pytest.raises(ContractError, match=refusal):
        merge(generated, overlay)


def test_the_overlay_may_reword_what_the_code_generated() -> None:
    generated: dict[str, Any] = {
        "paths": {"/p": {"get": {"responses": {"200": {"description": "OK"}}}}}
    }
    merge(generated, {"paths": {"/p": {"get": {"responses": {"200": {"description": "a page"}}}}}})
    assert generated["paths"]["/p"]["get"]["responses"]["200"]["description"] == "a page"


def test_an_overlay_entry_split_by_a_comma_is_refused_not_written() -> None:
    # YAML reads `{ summary: Browse, a page at a time }` as {"summary": "Browse", "a page...": None}
    with pytest.raises(ContractError, match="has no value"):
        merge({"paths": {"/p": {"get": {}}}}, {"paths": {"/p": {"get": {"a page": None}}}})
