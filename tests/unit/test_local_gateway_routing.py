"""The local gateway matches routes as API Gateway does."""

from __future__ import annotations

from pathlib import Path

from shop_local.gateway import RouteTable
from shop_local.template import Route, Template

REPO = Path(__file__).resolve().parents[2]


def table() -> RouteTable:
    return RouteTable(
        [
            Route("GET", "/products", "List", None),
            Route("GET", "/products/{product_id}", "Get", None),
            Route("GET", "/products/featured", "Featured", None),
            Route("ANY", "/files/{path+}", "Files", None),
            Route("DELETE", "/products/{product_id}", "Delete", "Cognito"),
        ]
    )


def test_a_literal_segment_beats_a_path_parameter() -> None:
    route, params, _ = table().match("GET", "/products/featured")
    assert route is not None
    assert route.function == "Featured"
    assert params == {}


def test_path_parameters_are_extracted() -> None:
    route, params, _ = table().match("GET", "/products/p-1")
    assert route is not None
    assert (route.function, params) == ("Get", {"product_id": "p-1"})


def test_a_greedy_parameter_takes_the_rest_of_the_path() -> None:
    route, params, _ = table().match("PUT", "/files/a/b/c.txt")
    assert route is not None
    assert params == {"path": "a/b/c.txt"}


def test_a_known_path_with_another_method_is_told_apart_from_an_unknown_path() -> None:
    assert table().match("POST", "/products/p-1")[::2] == (None, True)
    assert table().match("GET", "/nothing/here")[::2] == (None, False)


def test_the_template_marks_public_and_signed_in_routes() -> None:
    routes = {(r.method, r.path): r for r in Template(REPO / "template.yaml").routes()}
    assert routes[("GET", "/products")].authorizer is None
    assert routes[("POST", "/admin/products")].authorizer == "CognitoAuthorizer"


def test_intrinsics_resolve_against_what_was_provisioned() -> None:
    template = Template(REPO / "template.yaml", stack_name="s")

    def lookup(logical_id: str, attribute: str | None) -> str:
        return f"{logical_id}.{attribute}" if attribute else f"ref:{logical_id}"

    assert template.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${T.Arn}"}, lookup) == (
        "s-prod-T.Arn"
    )
    assert template.resolve({"Fn::GetAtt": ["Q", "Arn"]}, lookup) == "Q.Arn"
    assert template.resolve({"Fn::Join": ["/", [{"Ref": "X"}, "y"]]}, lookup) == "ref:X/y"
