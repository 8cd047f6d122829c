"""shop.http: proxy events in, proxy responses out, errors in one shape."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, StringConstraints

from shop.errors import NotFound
from shop.http import MAX_BODY_BYTES, ApiRequest, ApiResponse, api_handler, parse_groups
from shop.idempotency import canonical_body


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    count: int


def event(body: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "path": "/things",
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "requestContext": {"requestId": "req-1"},
        **extra,
    }


@api_handler("test")
def echo(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, request.json_body(Thing).model_dump())


@api_handler("test")
def broken(request: ApiRequest) -> ApiResponse:
    raise RuntimeError("secret internals")


class ThingNotFound(NotFound):
    code = "THING_NOT_FOUND"


@api_handler("test")
def missing(request: ApiRequest) -> ApiResponse:
    raise ThingNotFound("no thing 7")


def call(handler: Any, ev: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = handler(ev, None)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_a_valid_body_reaches_the_operation() -> None:
    assert call(echo, event('{"count": 3}'))[:2] == (200, {"count": 3})


def test_a_base64_body_is_decoded() -> None:
    body = base64.b64encode(b'{"count": 4}').decode()
    assert call(echo, event(body, isBase64Encoded=True))[1] == {"count": 4}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"count": ', 400, "BAD_REQUEST"),
        ("[]", 400, "BAD_REQUEST"),
        (None, 400, "BAD_REQUEST"),
        ('{"count": "3"}', 422, "VALIDATION_FAILED"),
        ('{"count": 3, "more": 1}', 422, "VALIDATION_FAILED"),
        ("{}", 422, "VALIDATION_FAILED"),
        ('{"count": 1, "pad": "' + "x" * MAX_BODY_BYTES + '"}', 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_bad_bodies_get_the_error_shape(body: str | None, status: int, code: str) -> None:
    got_status, got_body, _ = call(echo, event(body))
    assert got_status == status
    assert got_body["error"]["code"] == code
    assert set(got_body["error"]) == {"code", "message", "details"}


def test_an_unexpected_failure_is_a_500_that_reveals_nothing() -> None:
    status, body, _ = call(broken, event("{}"))
    assert status == 500
    assert "secret" not in json.dumps(body)


def test_a_shop_error_keeps_its_own_code() -> None:
    assert call(missing, event())[:2] == (
        404,
        {"error": {"code": "THING_NOT_FOUND", "message": "no thing 7", "details": {}}},
    )


def test_the_correlation_id_is_taken_from_the_caller_or_the_request_id() -> None:
    assert call(missing, event())[2]["X-Correlation-Id"] == "req-1"
    ev = event(headers={"X-Correlation-ID": "abc"})
    assert call(missing, ev)[2]["X-Correlation-Id"] == "abc"


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        ("admin", {"admin"}),
        ("admin,staff", {"admin", "staff"}),
        ("[admin staff]", {"admin", "staff"}),
        (["admin"], {"admin"}),
        (None, set()),
        ("", set()),
    ],
)
def test_cognito_groups_are_read_in_every_shape_api_gateway_sends(
    raw: object, groups: set[str]
) -> None:
    assert parse_groups(raw) == groups


def test_a_request_without_claims_has_no_caller() -> None:
    with pytest.raises(Exception, match="sign in"):
        ApiRequest(event()).caller()


def test_a_caller_outside_the_admin_group_is_forbidden() -> None:
    ev = event(requestContext={"authorizer": {"claims": {"sub": "u1", "cognito:groups": "staff"}}})
    with pytest.raises(Exception, match="administrators"):
        ApiRequest(ev).admin()


@pytest.mark.parametrize("depth", [65, 10_000])
def test_json_nested_too_deep_is_a_400_not_a_recursion_error(depth: int) -> None:
    status, body, _ = call(echo, event('{"count": ' + "[" * depth + "]" * depth + "}"))
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    status, body, _ = call(echo, event('{"count": 1, "x": "' + "[" * 500 + '"}'))
    assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED")  # only `x` is wrong


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    status, body, _ = call(echo, event('{"count": ' + constant + "}"))
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")


Code = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,8}$")]


@api_handler("test", path={"code": Code})
def by_code(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, {"code": request.path_param("code")})


@pytest.mark.parametrize("value", ["X" * 10_000, "abc", "A B", ""])
def test_a_path_parameter_obeys_the_type_the_contract_declares(value: str) -> None:
    status, body, _ = call(by_code, event(pathParameters={"code": value}))
    assert status in (400, 422)
    assert set(body["error"]) == {"code", "message", "details"}


def test_a_valid_path_parameter_reaches_the_operation() -> None:
    assert call(by_code, event(pathParameters={"code": "ABC"}))[:2] == (200, {"code": "ABC"})


def test_a_repeat_is_compared_by_its_parsed_body() -> None:
    assert canonical_body(b'{"a": 1, "b": [1, 2]}') == canonical_body(b'{ "b":[1,2],\n"a":1 }')
    assert canonical_body(b'{"a": 1}') != canonical_body(b'{"a": 2}')
    assert canonical_body(b"not json") == "not json"
