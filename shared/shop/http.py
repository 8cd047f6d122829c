"""The edge between API Gateway proxy events and the shop's services.

`api_handler` wraps one operation: it parses the proxy event into an `ApiRequest`, runs the
operation, and turns its result or its `ShopError` into a proxy response. Bad input becomes a
clear 4xx here, before any service code can write anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from shop.aws import unavailable
from shop.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    ShopError,
    Unauthorized,
    ValidationFailed,
)
from shop.observability import CORRELATION_HEADER, get_logger, lambda_entry

MAX_BODY_BYTES = 256 * 1024
ADMIN_GROUP = "admin"

Model = TypeVar("Model", bound=BaseModel)
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class Header:
    """A request header an operation reads, as the API document shows it."""

    name: str
    description: str = ""
    required: bool = True
    # One function can serve a signed-in and a public route (the cart's /cart and /guest-cart):
    # a header that stands in for the token is needed on the public one only.
    public_routes_only: bool = False


@dataclass(frozen=True)
class ApiContract:
    """What an operation takes and answers, declared on its handler by `api_handler` for the
    API document (`shop openapi` writes openapi.yaml from it). Nothing here is checked at run
    time: the handler still parses with `json_body`/`query_params`, and tests keep the two in
    step (tests/unit/test_api_contracts.py)."""

    service: str
    body: type[BaseModel] | None = None  # the JSON body, parsed by `request.json_body(body)`
    query: type[BaseModel] | None = None  # the query string, by `request.query_params(query)`
    path: Mapping[str, object] = field(default_factory=dict)  # a path parameter's type
    headers: tuple[Header, ...] = ()
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)
    # The domain errors the operation raises; the edge's own (auth, body, idempotency,
    # throttling) are added by the document's generator from the rest of the contract.
    errors: tuple[type[ShopError], ...] = ()
    idempotency: Literal["optional", "required"] | None = None


class ApiLambdaHandler(Protocol):
    """A Lambda proxy handler that carries its operation's contract."""

    contract: ApiContract

    def __call__(self, event: dict[str, Any], context: Any, /) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Caller:
    """The signed-in user, from the Cognito authorizer's claims."""

    user_id: str
    groups: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def parse_groups(raw: object) -> frozenset[str]:
    """`cognito:groups` reaches a REST API handler as a string ("admin" or "[admin, staff]"
    or "admin,staff"); a list arrives from other sources. Accept every shape."""
    if isinstance(raw, list | tuple):
        return frozenset(str(g) for g in raw)
    if not isinstance(raw, str):
        return frozenset()
    cleaned = raw.strip().strip("[]")
    return frozenset(part for part in cleaned.replace(",", " ").split() if part)


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiRequest:
    def __init__(
        self,
        event: Mapping[str, Any],
        lambda_context: Any = None,
        path_types: Mapping[str, TypeAdapter[Any]] | None = None,
    ) -> None:
        self.event = event
        self.lambda_context = lambda_context
        # The contract's types of the path parameters: a SKU in a path obeys the SKU pattern.
        self.path_types: Mapping[str, TypeAdapter[Any]] = path_types or {}
        self.method: str = event.get("httpMethod", "")
        self.path: str = event.get("path", "")
        self.resource: str = event.get("resource", "")  # the route's template: /products/{id}
        self.headers: dict[str, str] = {
            k.lower(): v for k, v in (event.get("headers") or {}).items() if v is not None
        }
        self.path_params: dict[str, str] = dict(event.get("pathParameters") or {})
        self.query: dict[str, str] = dict(event.get("queryStringParameters") or {})
        context = event.get("requestContext") or {}
        self.request_id: str = context.get("requestId", "")
        self.correlation_id: str = self.headers.get(CORRELATION_HEADER) or self.request_id
        self._claims: Mapping[str, Any] = (context.get("authorizer") or {}).get("claims") or {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def path_param(self, name: str) -> str:
        value = self.path_params.get(name)
        if not value:
            raise BadRequest(f"missing path parameter {name}")
        declared = self.path_types.get(name)
        if declared is not None:
            try:
                declared.validate_python(value, strict=True)
            except ValidationError as error:
                problems = [
                    {"field": f"path.{name}", "problem": problem["msg"]}
                    for problem in error.errors(include_url=False, include_input=False)
                ]
                raise ValidationFailed(
                    f"the path parameter {name} is not valid", details={"problems": problems}
                ) from None
        return value

    def body_bytes(self) -> bytes:
        raw = self.event.get("body") or ""
        data = base64.b64decode(raw) if self.event.get("isBase64Encoded") else raw.encode()
        if len(data) > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"the body is {len(data)} bytes; the limit is {MAX_BODY_BYTES}",
                details={"limit_bytes": MAX_BODY_BYTES},
            )
        return data

    def json_body(self, model: type[Model]) -> Model:
        data = self.body_bytes()
        if not data.strip():
            raise BadRequest("the request needs a JSON body")
        parsed = parse_json(data)
        if not isinstance(parsed, dict):
            raise BadRequest("the body must be a JSON object")
        return validate(model, parsed)

    def query_params(self, model: type[Model]) -> Model:
        return validate(model, self.query, strict=False)

    def caller(self) -> Caller:
        user_id = self._claims.get("sub")
        if not user_id:
            raise Unauthorized("sign in to use this operation")
        return Caller(user_id=str(user_id), groups=parse_groups(self._claims.get("cognito:groups")))

    def claims(self) -> dict[str, str]:
        """The signed-in user's token claims, as the authorizer passed them (strings)."""
        self.caller()  # signed in, or 401
        return {str(k): str(v) for k, v in self._claims.items()}

    def admin(self) -> Caller:
        caller = self.caller()
        if not caller.is_admin:
            raise Forbidden("this operation is for administrators")
        return caller


MAX_JSON_DEPTH = 64  # far deeper than any model here; json.loads itself overflows the stack


def parse_json(data: bytes) -> Any:
    """The body as JSON, or a 400: malformed, not UTF-8, NaN/Infinity (not JSON), or nested
    past MAX_JSON_DEPTH (which would otherwise end in a RecursionError, a 500)."""
    many_brackets = data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH  # counted in C
    if many_brackets and _nesting(data) > MAX_JSON_DEPTH:
        raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _nesting(data: bytes) -> int:
    """How deep brackets nest outside strings (a linear scan, before any parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def validate[Model: BaseModel](
    model: type[Model], data: Any, *, strict: bool | None = None
) -> Model:
    """Validate `data` into `model`, reporting every problem as one 422."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as error:
        problems = [
            {
                "field": ".".join(str(part) for part in problem["loc"]) or "body",
                "problem": problem["msg"],
            }
            for problem in error.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed("the request is not valid", details={"problems": problems}) from None


def error_response(error: ShopError) -> ApiResponse:
    """The house error shape with the error's status, and `Retry-After` when it has one."""
    headers = {} if error.retry_after is None else {"Retry-After": str(error.retry_after)}
    return ApiResponse(error.status, error.to_body(), headers)


# What a page on the storefront's origin may read of an answer, beside the simple headers.
CORS_EXPOSED = "ETag, Location, Retry-After, X-Cart-Token, X-Correlation-Id"


def to_proxy_response(response: ApiResponse, correlation_id: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "X-Correlation-Id": correlation_id}
    origin = os.environ.get("CORS_ALLOW_ORIGIN")  # the template's StorefrontOrigin
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSED
        if origin != "*":
            headers["Vary"] = "Origin"
    headers.update(response.headers)
    body = "" if response.body is None else json.dumps(response.body, separators=(",", ":"))
    return {"statusCode": response.status, "headers": headers, "body": body}


# Cache-Control of the public reads (the same answer for everyone): a CDN or browser may keep
# one 30 s, and serve it a minute longer while it asks again (a price change shows within
# 30 s; checkout prices every line from the catalog itself, never from a cached page).
PUBLIC_CACHE = "public, max-age=30, stale-while-revalidate=60"
PERSONAL_CACHE = "private, no-store"  # per shopper: never kept
# A degraded answer (shop.breakers) is kept by nobody: the whole one is back once the
# dependency is.
DEGRADED_CACHE = "no-store"
# A read that says nothing of caching is kept by no shared cache, and a browser asks again
# each time (cheaply: its ETag answers 304). Public reads declare their own Cache-Control.
DEFAULT_READ_CACHE = "private, no-cache"
_KEPT_ON_304 = (
    "Cache-Control",
    "ETag",
    "Vary",
    "X-Correlation-Id",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
)


def conditional_read(proxy: dict[str, Any], if_none_match: str | None) -> dict[str, Any]:
    """A GET's 200, with its ETag (a digest of the body: the same answer has the same tag)
    and Cache-Control; a 304 with no body when `If-None-Match` names the tag already."""
    headers = proxy["headers"]
    etag = '"' + hashlib.sha256(proxy["body"].encode()).hexdigest()[:32] + '"'
    headers["ETag"] = etag
    headers.setdefault("Cache-Control", DEFAULT_READ_CACHE)
    if if_none_match is None:
        return proxy
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x"; "*" matches any current answer.
    named = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    if etag not in named and "*" not in named:
        return proxy
    kept = {k: v for k, v in headers.items() if k in _KEPT_ON_304}
    return {"statusCode": 304, "headers": kept, "body": ""}


def api_handler(
    service: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    path: Mapping[str, object] | None = None,
    headers: Sequence[Header] = (),
    responses: Mapping[int, type[BaseModel] | None] | None = None,
    errors: Sequence[type[ShopError]] = (),
    idempotency: Literal["optional", "required"] | None = None,
) -> Callable[[Callable[[ApiRequest], ApiResponse]], ApiLambdaHandler]:
    """Make a Lambda proxy handler of an operation `ApiRequest -> ApiResponse`, and record
    its contract (see `ApiContract`) on it as `handler.contract`."""
    logger = get_logger(service)
    contract = ApiContract(
        service=service,
        body=body,
        query=query,
        path=dict(path or {}),
        headers=tuple(headers),
        responses=dict(responses or {}),
        errors=tuple(errors),
        idempotency=idempotency,
    )

    # Built once: a TypeAdapter compiles its type's validator (some 40 us, each request before).
    path_types: dict[str, TypeAdapter[Any]] = {
        name: TypeAdapter(declared) for name, declared in contract.path.items()
    }

    def decorate(operation: Callable[[ApiRequest], ApiResponse]) -> ApiLambdaHandler:
        module = operation.__module__.rsplit(".", 1)[-1]

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            request = ApiRequest(event, context, path_types)
            logger.thread_safe_append_keys(
                correlation_id=request.correlation_id, operation=module, method=request.method
            )
            try:
                response = operation(request)
            except ShopError as error:
                if error.status >= 500:
                    logger.exception("operation failed")
                else:
                    logger.info(
                        "request refused", extra={"status": error.status, "code": error.code}
                    )
                response = error_response(error)
            except Exception as error:
                transient = unavailable(error)
                if transient is not None:
                    # A dependency's timeout or throttle is a slow moment: the client should
                    # come back shortly (503 and Retry-After), not report a bug (500).
                    logger.warning("dependency unavailable", extra={"why": str(error)})
                    response = error_response(transient)
                else:
                    logger.exception("unexpected failure")
                    response = ApiResponse(
                        500, ShopError("something went wrong on our side").to_body()
                    )
            proxy = to_proxy_response(response, request.correlation_id)
            if request.method == "GET" and response.status == 200:
                return conditional_read(proxy, request.header("If-None-Match"))
            return proxy

        handler.__name__ = operation.__name__
        handler.__doc__ = operation.__doc__
        api_function = cast(ApiLambdaHandler, lambda_entry(service)(handler))
        api_function.contract = contract
        return api_function

    return decorate
