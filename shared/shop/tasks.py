"""The edge for functions the checkout saga (or a schedule) invokes directly: the input is the
state machine's JSON, the output is JSON, and a `ShopError` keeps its class name as the Lambda
error type so that the state machine's Catch can tell OUT_OF_STOCK from a timeout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shop import faults
from shop.aws import unavailable
from shop.errors import ValidationFailed
from shop.observability import get_logger, lambda_entry

TaskHandler = Callable[[dict[str, Any], Any], Any]


def task_input[Model: BaseModel](model: type[Model], event: dict[str, Any]) -> Model:
    try:
        return model.model_validate(
            {k: v for k, v in event.items() if k in model.model_fields}, strict=True
        )
    except ValidationError as error:
        raise ValidationFailed(f"bad task input: {error.errors(include_url=False)}") from None


def task_handler(service: str) -> Callable[[Callable[[dict[str, Any]], Any]], TaskHandler]:
    logger = get_logger(service)

    def decorate(task: Callable[[dict[str, Any]], Any]) -> TaskHandler:
        name = Path(task.__code__.co_filename).stem  # the step: reserve_stock, capture_payment

        def handler(event: dict[str, Any], context: Any) -> Any:
            logger.thread_safe_append_keys(
                correlation_id=str(event.get("correlation_id", "")), operation=name
            )
            try:
                faults.before(name)
                result = task(event)
                faults.after(name, event)
            except Exception as error:
                logger.info("task failed", extra={"error": type(error).__name__, "why": str(error)})
                transient = unavailable(error)
                if transient is not None:
                    # Under its own name the saga would take a timeout for a permanent failure
                    # (CHECKOUT_FAILED); as DependencyUnavailable its Retry backs off and tries
                    # again.
                    raise transient from error
                raise
            return result.model_dump() if isinstance(result, BaseModel) else result

        handler.__name__ = task.__name__
        return lambda_entry(service)(handler)

    return decorate
