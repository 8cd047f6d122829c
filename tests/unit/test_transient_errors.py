"""A dependency's timeout or throttle is a slow moment, not a verdict (issue 14): a saga task
raises it as the transient `DependencyUnavailable` (which the checkout's Retry lists), the API
answers it with 503, `Retry-After` and the house error shape, never with a bare 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from shop.aws import unavailable
from shop.errors import DependencyUnavailable
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.tasks import task_handler

URL = "http://127.0.0.1:5000/"


def refused(code: str, operation: str = "TransactWriteItems") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not now"}}, operation)


TRANSIENT = [
    ReadTimeoutError(endpoint_url=URL),
    ConnectTimeoutError(endpoint_url=URL),
    EndpointConnectionError(endpoint_url=URL),
    refused("ProvisionedThroughputExceededException"),
    refused("ThrottlingException", "StartExecution"),
    refused("RequestLimitExceeded"),
    refused("TransactionConflictException"),
]
PERMANENT = [
    refused("ConditionalCheckFailedException", "PutItem"),
    refused("ValidationException"),
    refused("ResourceNotFoundException"),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__ + str(e)[:40])
def test_timeouts_and_throttles_are_transient(error: Exception) -> None:
    found = unavailable(error)

    assert isinstance(found, DependencyUnavailable)
    assert DependencyUnavailable.transient


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__ + str(e)[:40])
def test_refusals_and_bugs_are_not(error: Exception) -> None:
    assert unavailable(error) is None


def raising(error: Exception) -> Any:
    @api_handler("test")
    def operation(request: ApiRequest) -> ApiResponse:
        raise error

    return operation


def proxy_event() -> dict[str, Any]:
    return {"httpMethod": "GET", "path": "/things", "requestContext": {"requestId": "req-9"}}


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__ + str(e)[:40])
def test_the_api_answers_a_dependency_timeout_or_throttle_with_503_and_retry_after(
    error: Exception,
) -> None:
    response = raising(error)(proxy_event(), None)

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    body = json.loads(response["body"])
    assert body["error"]["code"] == "DEPENDENCY_UNAVAILABLE"
    assert set(body["error"]) == {"code", "message", "details"}


def test_anything_else_unexpected_is_still_a_500_without_retry_after() -> None:
    response = raising(RuntimeError("secret internals"))(proxy_event(), None)

    assert response["statusCode"] == 500
    assert "Retry-After" not in response["headers"]
    assert "secret" not in response["body"]


def test_a_saga_task_raises_a_timeout_as_the_transient_error_the_saga_retries() -> None:
    @task_handler("test")
    def reserve_stock(event: dict[str, Any]) -> Any:
        raise ReadTimeoutError(endpoint_url=URL)

    with pytest.raises(DependencyUnavailable) as raised:
        reserve_stock({}, None)

    # The class name is the Lambda error type the ASL's Retry matches.
    assert type(raised.value).__name__ == "DependencyUnavailable"
    assert isinstance(raised.value.__cause__, ReadTimeoutError)


def test_a_saga_tasks_business_error_keeps_its_own_type() -> None:
    @task_handler("test")
    def reserve_stock(event: dict[str, Any]) -> Any:
        raise refused("ConditionalCheckFailedException", "PutItem")

    with pytest.raises(ClientError):
        reserve_stock({}, None)
