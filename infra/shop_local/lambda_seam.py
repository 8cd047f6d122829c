"""The one seam between moto and our handlers: state machines' `lambda:invoke` tasks reach
moto's Lambda backend, which without Docker only echoes its payload. Here that backend's invoke
dispatches to the real Python handler instead, and reports a raised exception the way Lambda
does (the `x-amz-function-error` header, `errorType` in the payload), so that the ASL's
Retry and Catch see the handler's own error type.

moto's Step Functions reached that backend through its own Lambda API, over HTTP: a request
per task (~2 ms of botocore and moto's server, eight times a checkout, all on the saga's path).
On AWS that hop is inside the service. `TaskLambdaClient` takes it in process for the
template's functions, to the same backend invoke with the same answer; anything else (another
function, an asynchronous invoke) still goes through moto's API."""

from __future__ import annotations

import io
import json
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from shop_local import moto_speed
from shop_local.functions import FunctionError, LocalFunctions

_original_invoke = LambdaSimpleBackend.invoke
RESPONSE_LIMIT = 6_000_000  # bytes; moto's Lambda API answers Function.ResponseSizeTooLarge past it


def of_template(functions: LocalFunctions, function_name: str) -> bool:
    try:
        functions.logical_id(function_name)
    except KeyError:
        return False
    return True


def answer(functions: LocalFunctions, function_name: str, body: Any) -> tuple[bytes, bool]:
    """What Lambda answers an invoke of one of the template's functions: the payload, and
    whether the function failed (its error type and message are then the payload)."""
    payload = json.loads(body) if body else {}
    try:
        result = functions.invoke(function_name, payload)
    except FunctionError as error:
        failure = {"errorType": error.error_type, "errorMessage": error.message}
        return json.dumps(failure).encode(), True
    return json.dumps(result).encode(), False


class TaskLambdaClient:
    """The Lambda client of moto's Step Functions tasks: a synchronous invoke of a function of
    the template is answered in process, as moto's Lambda API would answer it (StatusCode,
    FunctionError, Payload); every other call goes to the boto3 client it wraps."""

    def __init__(self, client: Any, functions: LocalFunctions) -> None:
        self._client = client
        self._functions = functions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        name = str(parameters.get("FunctionName", ""))
        synchronous = parameters.get("InvocationType", "RequestResponse") == "RequestResponse"
        if not synchronous or "Qualifier" in parameters or not of_template(self._functions, name):
            return dict(self._client.invoke(**parameters))
        body = parameters.get("Payload") or b""
        payload, failed = answer(self._functions, name, body)
        if len(payload) > RESPONSE_LIMIT:
            payload, failed = (
                json.dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed "
                        "payload size (6291556 bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode(),
                True,
            )
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": io.BytesIO(payload),
        }
        if failed:
            response["FunctionError"] = "Unhandled"
        return response


def install(functions: LocalFunctions) -> None:
    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes | str | None:
        if not of_template(functions, function_name):
            return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
        payload, failed = answer(functions, function_name, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    moto_speed.use_task_client("lambda", lambda client: TaskLambdaClient(client, functions))


def uninstall() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
    moto_speed.use_task_client("lambda", None)
