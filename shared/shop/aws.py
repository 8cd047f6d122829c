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

_lock = threading.Lock()

# Standard retry mode backs off on throttling; a short connect timeout keeps a Lambda from
# spending its whole budget on one unreachable endpoint.
_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=50,
)


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
