"""Structured logging with a correlation id that follows a request through the platform.

The correlation id comes from the caller's `X-Correlation-Id` header when present (so a client
or an upstream service can tie its own logs to ours), else from API Gateway's request id. It is
echoed in every response and copied into every event the request causes.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger

CORRELATION_HEADER = "x-correlation-id"


@cache
def get_logger(service: str) -> Logger:
    return Logger(service=service)
