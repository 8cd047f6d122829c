"""The local API Gateway: serves the template's Api routes over HTTP, building the same REST
proxy event API Gateway sends (path parameters, query strings, authorizer claims), and turns the
handler's proxy response back into HTTP. No route or function is special-cased here."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from shop_local.auth import InvalidToken, LocalIdentityProvider, authorizer_claims
from shop_local.functions import FunctionError, FunctionThrottled, LocalFunctions
from shop_local.storefront import StaticSite
from shop_local.template import Cors, Route

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's own payload limit
STAGE = "local"
ORIGIN_HEADER = "access-control-allow-origin"
# The methods API Gateway routes; any other (TRACE, CONNECT, made-up ones) is refused here.
ROUTED_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
# A client that promised more body than it sends is answered, not waited for forever.
BODY_TIMEOUT_SECONDS = 30
# Retry-After of a throttled function's 429: the template's GatewayResponses say the same
# (INTEGRATION_FAILURE, THROTTLED), tests/unit/test_template_operations.py checks it.
THROTTLED_RETRY_AFTER = "1"
RETRY_AFTER_SECONDS = 5  # while the platform is still loading its data

# Routes that are the local platform's, not the API's (the OpenAPI document, the /_local/
# controls): (body, headers named in lower case) -> (status, JSON).
LocalRoute = Callable[[bytes, Mapping[str, str]], tuple[int, Any]]

# The house error code for the statuses the HTTP layer itself refuses with.
_STATUS_CODES = {
    400: "BAD_REQUEST",
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "BAD_REQUEST",
    411: "BAD_REQUEST",
    413: "PAYLOAD_TOO_LARGE",
    414: "BAD_REQUEST",
    431: "BAD_REQUEST",
    501: "NOT_IMPLEMENTED",
    505: "BAD_REQUEST",
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}}}


class RouteTable:
    """Matches a request to a route as API Gateway does: literal segments beat path
    parameters, and a greedy `{name+}` matches the rest."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=self._specificity, reverse=True)

    @staticmethod
    def _specificity(route: Route) -> tuple[int, int]:
        literal = sum(1 for s in route.segments if not s.startswith("{"))
        return (literal, len(route.segments))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists for some other method). Segments
        are percent-decoded after the path is split, as API Gateway decodes path parameters:
        `/products/p%2D1` is product `p-1`."""
        segments = [unquote(s) for s in path.split("/") if s]
        path_exists = False
        for route in self.routes:
            params = _match_segments(route.segments, segments)
            if params is None:
                continue
            path_exists = True
            if route.method in (method, "ANY"):
                return route, params, True
        return None, {}, path_exists


def _match_segments(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            if i >= len(segments):
                return None
            params[part[1:-2]] = "/".join(segments[i:])
            return params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(pattern) == len(segments) else None


class Gateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[Route],
        functions: LocalFunctions,
        identity: LocalIdentityProvider,
        local_routes: dict[tuple[str, str], LocalRoute],
        *,
        ready: bool = True,
        cors: Cors | None = None,
        site: StaticSite | None = None,
    ) -> None:
        super().__init__(address, _GatewayRequestHandler)
        self.site = site  # the storefront's files, for paths no route matches
        self.cors = cors  # the template's: preflights answered, every answer readable
        self.route_table = RouteTable(routes)
        self.functions = functions
        self.identity = identity
        self.local_routes = local_routes
        # Until set, API routes answer 503 + Retry-After (the demo data is still loading).
        self.ready = threading.Event()
        if ready:
            self.ready.set()

    def proxy_event(
        self,
        route: Route,
        method: str,
        raw_path: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        split = urlsplit(raw_path)
        multi_query = parse_qs(split.query, keep_blank_values=True)
        try:
            text: str | None = body.decode("utf-8") if body else None
            is_base64 = False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        request_id = str(uuid.uuid4())
        context: dict[str, Any] = {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{STAGE}{split.path}",
            "stage": STAGE,
            "requestId": request_id,
            "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "accountId": "123456789012",
            "apiId": "local",
        }
        if claims is not None:
            context["authorizer"] = {"claims": claims}
        return {
            "resource": route.path,
            "path": split.path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": is_base64,
        }


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of API Gateway get
    # Headers and body leave in one segment: written separately, the body waited for the
    # client's delayed ACK (about 40 ms a response, measured in bench/catalog_reads.py).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handlers log, structured; an access log line per request is noise here

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses itself (a bad request line, headers too long, an unknown
        method) in the house error shape, not its HTML page."""
        self.close_connection = True
        # A request line too broken to name its version would be answered as HTTP/0.9 (a
        # body with no status line): no client of this API speaks that.
        self.request_version = "HTTP/1.1"
        status = HTTPStatus(code)
        body = error_body(_STATUS_CODES.get(code, "BAD_REQUEST"), message or status.phrase)
        with contextlib.suppress(OSError):  # the client may have gone
            self._respond(code, body)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>: every method reaches _safe_handle, which refuses
        # the ones API Gateway does not route in JSON (http.server's own answer is HTML).
        if name.startswith("do_"):
            return self._safe_handle
        raise AttributeError(name)

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        cors = self.server.cors
        if cors is not None and not any(k.lower() == ORIGIN_HEADER for k in headers or {}):
            # The gateway's own answers (401, 404, 503, ...), as its GatewayResponses send them.
            headers = {**(headers or {}), "Access-Control-Allow-Origin": cors.allow_origin}
        sent = {k.lower() for k in (headers or {})}
        for key, value in (headers or {}).items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes | None:
        """The body Content-Length announces; None once a refusal has been sent (the
        connection then closes: what is left of the request cannot be found in the stream)."""
        self.connection.settimeout(BODY_TIMEOUT_SECONDS)
        try:
            return self._read_announced_body()
        finally:
            self.connection.settimeout(None)

    def _read_announced_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        declared = self.headers.get_all("Content-Length") or []
        if not declared:
            return b""
        if len(set(declared)) > 1 or not declared[0].strip().isdigit():
            self.close_connection = True
            self._respond(400, error_body("BAD_REQUEST", "Content-Length is not a length"))
            return None
        length = int(declared[0])
        if length > API_GATEWAY_MAX_BODY:
            self.close_connection = True
            self._respond(413, error_body("PAYLOAD_TOO_LARGE", "the request body is too large"))
            return None
        body = self._read_exactly(length)
        if body is None:
            self.close_connection = True
            self._respond(400, error_body("BAD_REQUEST", "the body is shorter than its length"))
        return body

    def _read_exactly(self, length: int) -> bytes | None:
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            return None
        return body if len(body) == length else None

    def _read_chunked(self) -> bytes | None:
        body = bytearray()
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            except (ValueError, TimeoutError):
                size = -1
            if size < 0 or len(body) + size > API_GATEWAY_MAX_BODY:
                self.close_connection = True
                self._respond(400, error_body("BAD_REQUEST", "the chunked body is malformed"))
                return None
            chunk = self._read_exactly(size + 2)  # the chunk and its CRLF
            if chunk is None:
                self.close_connection = True
                self._respond(400, error_body("BAD_REQUEST", "the chunked body is cut short"))
                return None
            if size == 0:
                return bytes(body)  # (trailers are not supported: the CRLF ended them)
            body += chunk[:-2]

    def _handle(self) -> None:
        method = self.command
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return

        local = self.server.local_routes.get((method, path))
        if local is not None:
            lowered = {k.lower(): v for k, v in self.headers.items()}
            status, payload = local(body, lowered)
            self._respond(status, payload)
            return

        if method not in ROUTED_METHODS:
            self._respond(501, error_body("NOT_IMPLEMENTED", f"{method[:32]} is not an API method"))
            return
        route, params, path_exists = self.server.route_table.match(method, path)
        cors = self.server.cors
        if method == "OPTIONS" and route is None and path_exists and cors is not None:
            # The preflight SAM adds to every path: a mock answer, with no authorizer.
            self._respond(200, b"", cors.preflight_headers())
            return
        if route is None and not path_exists and method in ("GET", "HEAD"):
            # The storefront's files, as CloudFront serves them beside the API on AWS: only
            # for paths that are no route's, so an asset can never shadow the API.
            asset = self.server.site.find(path) if self.server.site is not None else None
            if asset is not None:
                self._respond(200, asset.body, asset.headers())
                return
        if route is None:
            if path_exists:
                self._respond(
                    405, error_body("METHOD_NOT_ALLOWED", f"{method} is not allowed here")
                )
            else:
                self._respond(
                    404, error_body("ROUTE_NOT_FOUND", f"no route for {method} {path[:200]}")
                )
            return
        if not self.server.ready.is_set():
            self._respond(
                503,
                error_body("NOT_READY", "the platform is still loading its data; retry shortly"),
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            return

        headers = dict(self.headers.items())
        claims = None
        if route.authorizer is not None:
            auth = self.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token:
                self._respond(401, error_body("UNAUTHORIZED", "sign in to use this operation"))
                return
            try:
                claims = authorizer_claims(self.server.identity.verify(token.strip()))
            except InvalidToken:
                self._respond(401, error_body("UNAUTHORIZED", "the token is not valid"))
                return

        event = self.server.proxy_event(route, method, self.path, params, headers, body, claims)
        try:
            result = self.server.functions.invoke(route.function, event)
        except FunctionThrottled:
            # Lambda's throttle reaches API Gateway as INTEGRATION_FAILURE, which the
            # template's GatewayResponses answer as 429 with Retry-After.
            self._respond(
                429,
                error_body("THROTTLED", "too many requests; try again shortly"),
                {"Retry-After": THROTTLED_RETRY_AFTER},
            )
            return
        except FunctionError:
            # What API Gateway answers when the integration fails; the handler logged why.
            self._respond(502, error_body("INTERNAL_ERROR", "Internal server error"))
            return
        if not isinstance(result, dict) or "statusCode" not in result:
            self._respond(502, error_body("INTERNAL_ERROR", "Malformed Lambda proxy response"))
            return
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        self._respond(int(result["statusCode"]), data, result.get("headers") or {})

    def _safe_handle(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # the gateway itself must never hang up on a client
            self.close_connection = True
            self._respond(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                error_body("INTERNAL_ERROR", f"local gateway failure: {type(error).__name__}"),
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _safe_handle
    do_TRACE = do_CONNECT = _safe_handle  # answered in JSON, like any method not routed
