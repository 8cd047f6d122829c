"""The OpenAPI document served at /openapi.json and template.yaml describe the same API."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from helpers import Api
from shop_local.template import Template

REPO = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def template_routes() -> set[tuple[str, str]]:
    return {(r.method.lower(), r.path) for r in Template(REPO / "template.yaml").routes()}


def test_the_served_document_is_valid_openapi(api: Api) -> None:
    document = api.get("/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_template_route_is_documented_and_nothing_else(api: Api) -> None:
    document = api.get("/openapi.json").json()
    documented = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert documented == template_routes()


def test_admin_routes_are_documented_as_needing_a_token_and_public_ones_not(api: Api) -> None:
    document = api.get("/openapi.json").json()
    public = {
        (r.method.lower(), r.path)
        for r in Template(REPO / "template.yaml").routes()
        if r.authorizer is None
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            needs_token = operation.get("security", document.get("security", [])) != []
            assert needs_token == ((method, path) not in public), (method, path)


def test_path_parameters_are_declared_for_every_templated_segment(api: Api) -> None:
    document = api.get("/openapi.json").json()
    refs = document["components"]["parameters"]
    for path, operations in document["paths"].items():
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
