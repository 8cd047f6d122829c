"""The one idempotency mechanism: Powertools Idempotency on the shop's idempotency table.

An unsafe request that carries `Idempotency-Key` runs at most once per (operation, caller, key);
a repeat gets the first response. A repeat with a different body is refused (422), a repeat
while the first is still running gets 409. The in-progress record expires with the Lambda's own
timeout (`register_lambda_context`), so a timed-out invocation cannot block the key for a day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from shop.config import idempotency_table
from shop.errors import BadRequest, Conflict, ValidationFailed
from shop.http import ApiRequest, ApiResponse, Caller

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, as Stripe accepts
RESULT_TTL_SECONDS = 24 * 3600


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=idempotency_table())


def idempotency_key(request: ApiRequest, *, required: bool) -> str | None:
    key = request.header(IDEMPOTENCY_HEADER)
    if key is None:
        if required:
            raise BadRequest(f"this operation needs an {IDEMPOTENCY_HEADER} header")
        return None
    if not KEY_PATTERN.match(key):
        raise BadRequest(f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters")
    return key


def once_per_key(
    request: ApiRequest,
    caller: Caller,
    operation: str,
    action: Callable[[], ApiResponse],
    *,
    required: bool = False,
) -> ApiResponse:
    key = idempotency_key(request, required=required)
    if key is None:
        return action()
    config = IdempotencyConfig(
        event_key_jmespath="[operation, caller, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=RESULT_TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if request.lambda_context is not None:
        config.register_lambda_context(request.lambda_context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="call", persistence_store=_persistence(), config=config
    )
    def run(call: dict[str, Any]) -> dict[str, Any]:
        response = action()
        return {"status": response.status, "body": response.body, "headers": response.headers}

    call = {
        "operation": operation,
        "caller": caller.user_id,
        "key": key,
        "body": request.body_bytes().decode("utf-8", "replace"),
    }
    try:
        result = run(call=call)
    except IdempotencyValidationError:
        raise ValidationFailed(
            f"this {IDEMPOTENCY_HEADER} was used with a different request",
            code="IDEMPOTENCY_KEY_REUSED",
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            f"a request with this {IDEMPOTENCY_HEADER} is still in progress; retry shortly",
            code="REQUEST_IN_PROGRESS",
        ) from None
    return ApiResponse(int(result["status"]), result["body"], dict(result["headers"]))
