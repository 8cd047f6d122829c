"""Structured logging with a correlation id that follows a request through the platform.

The correlation id comes from the caller's `X-Correlation-Id` header when present (so a client
or an upstream service can tie its own logs to ours), else from API Gateway's request id. It is
echoed in every response and copied into every event the request causes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cache, wraps
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

CORRELATION_HEADER = "x-correlation-id"


@cache
def get_logger(service: str) -> Logger:
    return Logger(service=service)


type LambdaHandler[R] = Callable[[Any, Any], R]


@cache
def get_tracer() -> Tracer:
    """The process's X-Ray tracer (the template turns on active tracing). On Lambda it patches
    botocore and requests, so every DynamoDB, SQS, EventBridge and S3 call and every Stripe
    request is a subsegment of its invocation; off Lambda (the local platform, the tests) it
    disables itself: no daemon listens there."""
    return Tracer(service="shop")


def traced(name: str) -> AbstractContextManager[Any]:
    """A subsegment around a call to a dependency (`## search`, `## payments`), so a trace
    shows what each one cost; nothing when tracing is off."""
    tracer = get_tracer()
    return nullcontext() if tracer.disabled else tracer.provider.in_subsegment(f"## {name}")


def lambda_entry[R](service: str) -> Callable[[LambdaHandler[R]], LambdaHandler[R]]:
    """Every handler's outermost layer: its invocation is traced, and its logs carry the Lambda
    context (function, request id, cold start) as Logger.inject_lambda_context would add it.
    Not that decorator itself: it appends its keys process-wide, and the local platform runs
    many invocations at once, on threads of one process; these keys are the thread's own."""
    logger = get_logger(service)
    tracer = get_tracer()

    def decorate(handler: LambdaHandler[R]) -> LambdaHandler[R]:
        # No response in the trace: responses hold addresses and emails (docs/privacy.md).
        traced_handler = (
            handler
            if tracer.disabled
            else tracer.capture_lambda_handler(handler, capture_response=False)
        )
        cold_start = [True]

        @wraps(handler)
        def entry(event: Any, context: Any) -> R:
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(cold_start=cold_start.pop() if cold_start else False)
            if context is not None:  # None only where a unit test calls a handler directly
                logger.thread_safe_append_keys(**build_lambda_context_model(context).__dict__)
            result: R = traced_handler(event, context)
            return result

        return entry

    return decorate


def in_current_trace[T](call: Callable[[], T]) -> Callable[[], T]:
    """`call`, made to run on another thread as part of this thread's trace: X-Ray keeps the
    current (sub)segment per thread, so without this a pool thread's calls would start a
    trace entity of their own."""
    if get_tracer().disabled:
        return call
    from aws_xray_sdk.core import xray_recorder  # the tracer's provider, imported once it runs

    entity = xray_recorder.get_trace_entity()

    def in_trace() -> T:
        xray_recorder.set_trace_entity(entity)
        return call()

    return in_trace
