"""The one way to get an AWS client.

Clients are cached per process (Lambda reuses them across invocations) and honour
`AWS_ENDPOINT_URL`, so the same code talks to AWS, LocalStack or the local platform's moto server.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shop.errors import DependencyUnavailable

_lock = threading.Lock()

# Connections per client: at least as many as handlers may run at once in one process (one on
# Lambda; shop_local.functions.LOCAL_CONCURRENCY locally), so none waits for a connection or
# opens one to throw it away.
MAX_POOL_CONNECTIONS = 50

# Standard retry mode backs off on throttling; a short connect timeout keeps a Lambda from
# spending its whole budget on one unreachable endpoint.
_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=MAX_POOL_CONNECTIONS,
)

# Error codes that mean "not now" rather than "no": throttling, a transaction that met another
# in flight, a service's own 5xx. Retrying later is right for each.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The transient error `error` is, if it is one: a read or connect timeout, an endpoint
    that cannot be reached or closed the connection, or a throttle or conflict the SDK's own
    retries did not get past. None for everything else (a failed condition, a bad request)."""
    if isinstance(error, HTTPClientError | BotoConnectionError):
        return DependencyUnavailable(f"an AWS dependency did not answer: {error}")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in TRANSIENT_CODES:
            operation = getattr(error, "operation_name", "a request")
            return DependencyUnavailable(f"AWS refused {operation} for now ({code}); retry")
    return None


@cache
def client(service: str) -> Any:
    # boto3's default session is not thread-safe to create clients from; the local platform
    # serves requests on many threads.
    with _lock:
        return boto3.session.Session().client(
            service,
            config=_CONFIG,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )


def table(name: str) -> Any:
    """A DynamoDB table resource for `name` (the physical table name)."""
    return _dynamodb_resource().Table(name)


@cache
def _dynamodb_resource() -> Any:
    with _lock:
        return boto3.session.Session().resource(
            "dynamodb",
            config=_CONFIG,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        )


def reset_clients() -> None:
    """Forget cached clients (the local platform calls this after changing the endpoint)."""
    client.cache_clear()
    _dynamodb_resource.cache_clear()
