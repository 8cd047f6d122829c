"""The one idempotency mechanism: Powertools Idempotency on the shop's idempotency table.

An unsafe request that carries `Idempotency-Key` runs at most once per (operation, caller, key);
a repeat gets the first response. A repeat with a different body is refused (422), a repeat
while the first is still running gets 409. The in-progress record expires with the Lambda's own
timeout (`register_lambda_context`), so a timed-out invocation cannot block the key for a day.
"""

from __future__ import annotations

import json
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
from shop.errors import BadRequest, EventInProgress, IdempotencyKeyReused, RequestInProgress
from shop.http import ApiRequest, ApiResponse, Caller

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, as Stripe accepts
RESULT_TTL_SECONDS = 24 * 3600


@cache
def _persistence(purpose: str) -> DynamoDBPersistenceLayer:
    """One persistence layer per kind of key: Powertools configures a layer once, from the
    first config it sees (its key expression among them), so requests and events need their
    own; both keep their records in the one idempotency table."""
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


def canonical_body(data: bytes) -> str:
    """What a repeat's body is compared by: the parsed JSON, so that whitespace and key order
    do not make the same request a different one; the text itself when it is not JSON."""
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return data.decode("utf-8", "replace")
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
        data_keyword_argument="call", persistence_store=_persistence("request"), config=config
    )
    def run(call: dict[str, Any]) -> dict[str, Any]:
        response = action()
        return {"status": response.status, "body": response.body, "headers": response.headers}

    call = {
        "operation": operation,
        "caller": caller.user_id,
        "key": key,
        "body": canonical_body(request.body_bytes()),
    }
    try:
        result = run(call=call)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"this {IDEMPOTENCY_HEADER} was used with a different request",
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise RequestInProgress(
            f"a request with this {IDEMPOTENCY_HEADER} is still in progress; retry shortly",
        ) from None
    return ApiResponse(int(result["status"]), result["body"], dict(result["headers"]))


def once_per_event(
    consumer: str, event_id: str, action: Callable[[], None], lambda_context: Any = None
) -> bool:
    """Run a consumer's effect of one event at most once: False when this consumer already
    handled `event_id` (a repeat delivery), True when it ran now. A repeat that arrives while
    the first is still running raises `EventInProgress`, so the edge reports the message failed and
    the queue redelivers it later, when it will be found done.

    The record lives as long as a duplicate can still arrive (EventBridge and SQS redeliver
    within minutes; the queues keep messages for days, hence the day). An effect that must
    survive a crash between itself and this record (a process killed mid-effect leaves the
    record in progress until the function's timeout) is also keyed by the event id in its own
    write: see docs/conventions.md."""
    config = IdempotencyConfig(
        event_key_jmespath="[consumer, event_id]",
        expires_after_seconds=RESULT_TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    ran = False

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="delivery", persistence_store=_persistence("event"), config=config
    )
    def handle_event(delivery: dict[str, str]) -> dict[str, bool]:
        nonlocal ran
        action()
        ran = True
        return {"handled": True}

    try:
        handle_event(delivery={"consumer": consumer, "event_id": event_id})
    except IdempotencyAlreadyInProgressError:
        raise EventInProgress(f"{consumer} is still handling {event_id}") from None
    return ran
