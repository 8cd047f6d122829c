"""The shop's business and health figures, as CloudWatch metrics (Embedded Metric Format).

Each figure is written the moment it happens, as one EMF line on the function's log (Powertools'
`single_metric`): CloudWatch turns it into a metric in the `POWERTOOLS_METRICS_NAMESPACE`
namespace (`shop`), with no API call and nothing to flush. The figures are few and named in the
shop's words: `FIGURES` is the list, and docs/operations.md says what each means.

Locally, the platform also tallies every figure in its own memory (`observe`; nothing does on
AWS) and `shop metrics` shows the tally.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit, single_metric

FIGURES = {
    "OrdersPlaced": "a checkout succeeded: its order is placed and paid",
    "CheckoutFailed": "a checkout ended FAILED (dimension `failure_code`: OUT_OF_STOCK, ...)",
    "PaymentDeclined": "the card issuer refused an authorization",
    "OversellRefused": "a reservation was refused because the stock was not there",
    "CircuitOpened": "a dependency's circuit opened (dimension `circuit`)",
    "DegradedAnswer": "an answer was served in a degraded mode (dimension `dependency`)",
}

Observer = Callable[[str, float, dict[str, str]], None]
_observers: list[Observer] = []
_lock = threading.Lock()


def observe(observer: Observer) -> None:
    """Also hand every figure to `observer` (the local platform's tally)."""
    with _lock:
        _observers.append(observer)


def forget(observer: Observer) -> None:
    with _lock:
        if observer in _observers:
            _observers.remove(observer)


def count(figure: str, value: float = 1, **dimensions: str) -> None:
    """Record `value` of `figure` now, with its dimensions (keep them few: each combination
    is a metric of its own)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure}: add it to shop.metrics.FIGURES")
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "shop")
    with single_metric(
        name=figure, unit=MetricUnit.Count, value=value, namespace=namespace
    ) as metric:
        for name, dimension in dimensions.items():
            metric.add_dimension(name=name, value=dimension)
    with _lock:
        observers = list(_observers)
    for observer in observers:
        observer(figure, value, dimensions)
