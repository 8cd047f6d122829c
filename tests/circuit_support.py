"""Circuits between tests: the suite's functions share one process and one CircuitsTable, so a
test that opens a circuit (or leaves failures counted) closes it again for the next one."""

from __future__ import annotations

from aws_lambda_powertools.utilities.circuit_breaker import CircuitState
from aws_lambda_powertools.utilities.circuit_breaker import base as powertools

from shop import breakers
from shop.config import circuits_table


def disturbed() -> bool:
    """Whether this process counted a failure or saw a circuit other than closed (memory
    only: cheap enough to ask after every test)."""
    with powertools._COUNTERS_LOCK:
        return any(powertools._LOCAL_FAILURES.values()) or any(
            state != CircuitState.CLOSED for state in powertools._LAST_OBSERVED_STATE.values()
        )


def reset() -> None:
    """Close every circuit and forget what this process counted (Powertools keeps the counts
    in its module, per execution environment, which is this process here)."""
    store = breakers.store(circuits_table())
    for dependency in breakers.DEPENDENCIES:
        store.client.delete_item(TableName=store.table_name, Key={"id": {"S": dependency.name}})
    with powertools._COUNTERS_LOCK:
        powertools._LOCAL_FAILURES.clear()
        powertools._LOCAL_SUCCESSES.clear()
        powertools._LAST_OBSERVED_STATE.clear()
    with store._lock:
        store._cache.clear()
