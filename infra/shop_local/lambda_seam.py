"""The one seam between moto and our handlers: state machines' `lambda:invoke` tasks reach
moto's Lambda backend, which without Docker only echoes its payload. Here that backend's invoke
dispatches to the real Python handler instead, and reports a raised exception the way Lambda
does (the `x-amz-function-error` header, `errorType` in the payload), so that the ASL's
Retry and Catch see the handler's own error type."""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from shop_local.functions import FunctionError, LocalFunctions

_original_invoke = LambdaSimpleBackend.invoke


def install(functions: LocalFunctions) -> None:
    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes | str | None:
        try:
            functions.logical_id(function_name)
        except KeyError:
            return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
        payload = json.loads(body) if body else {}
        try:
            result = functions.invoke(function_name, payload)
        except FunctionError as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": error.error_type, "errorMessage": error.message}
            ).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def uninstall() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
