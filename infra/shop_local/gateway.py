"""The local API Gateway: serves the template's Api routes over HTTP, building the same REST
proxy event API Gateway sends (path parameters, query strings, authorizer claims), and turns the
handler's proxy response back into HTTP. No route or function is special-cased here."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shop_local.auth import InvalidToken, LocalIdentityProvider, authorizer_claims
from shop_local.functions import FunctionError, LocalFunctions
from shop_local.template import Route

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's own payload limit
STAGE = "local"

# Extra GET routes that are the local platform's, not the API's (the OpenAPI document, health).
LocalRoute = Callable[[], tuple[int, Any]]


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
        """(route, path parameters, whether the path exists for some other method)."""
        segments = [s for s in path.split("/") if s]
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
        local_routes: dict[tuple[str, str], Callable[[bytes], tuple[int, Any]]],
    ) -> None:
        super().__init__(address, _GatewayRequestHandler)
        self.route_table = RouteTable(routes)
        self.functions = functions
        self.identity = identity
        self.local_routes = local_routes

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

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
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

    def _handle(self) -> None:
        method = self.command
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > API_GATEWAY_MAX_BODY:
            self.close_connection = True
            self._respond(413, error_body("PAYLOAD_TOO_LARGE", "the request body is too large"))
            return
        body = self.rfile.read(length) if length else b""

        local = self.server.local_routes.get((method, path))
        if local is not None:
            status, payload = local(body)
            self._respond(status, payload)
            return

        route, params, path_exists = self.server.route_table.match(method, path)
        if route is None:
            if path_exists:
                self._respond(
                    405, error_body("METHOD_NOT_ALLOWED", f"{method} is not allowed here")
                )
            else:
                self._respond(404, error_body("ROUTE_NOT_FOUND", f"no route for {method} {path}"))
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
