"""Closing every circuit again, for whoever broke a dependency on purpose (the suite's fault
matrix, the `/_local/faults` control): the shared state in CircuitsTable and what this process
counted, which Powertools keeps in its module, per execution environment (this process)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.circuit_breaker import base as powertools

from shop import breakers
from shop.config import circuits_table


def reset() -> None:
    store = breakers.store(circuits_table())
    for dependency in breakers.DEPENDENCIES:
        store.client.delete_item(TableName=store.table_name, Key={"id": {"S": dependency.name}})
    with powertools._COUNTERS_LOCK:
        powertools._LOCAL_FAILURES.clear()
        powertools._LOCAL_SUCCESSES.clear()
        powertools._LAST_OBSERVED_STATE.clear()
    with store._lock:
        store._cache.clear()
