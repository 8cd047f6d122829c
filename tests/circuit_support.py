"""Circuits between tests: the suite's functions share one process and one CircuitsTable, so a
test that opens a circuit (or leaves failures counted) closes it again for the next one."""

from __future__ import annotations

from aws_lambda_powertools.utilities.circuit_breaker import CircuitState
from aws_lambda_powertools.utilities.circuit_breaker import base as powertools

from shop_local import circuits


def disturbed() -> bool:
    """Whether this process counted a failure or saw a circuit other than closed (memory
    only: cheap enough to ask after every test)."""
    with powertools._COUNTERS_LOCK:
        return any(powertools._LOCAL_FAILURES.values()) or any(
            state != CircuitState.CLOSED for state in powertools._LAST_OBSERVED_STATE.values()
        )


def reset() -> None:
    """Close every circuit and forget what this process counted."""
    circuits.reset()
