"""Lambda's limits, locally (shop_local.functions): a handler that runs past its function's
Timeout fails as Lambda fails it (`Sandbox.Timedout`, "Task timed out after N seconds"), so the
state machine's Retry/Catch and the event sources' redelivery see what production would; and no
more invocations run at once than the platform has slots for."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from shop import aws
from shop_local.functions import (
    LOCAL_CONCURRENCY,
    TIMED_OUT,
    FunctionError,
    LocalFunctions,
    current_function,
)
from shop_local.template import FunctionSpec

HANDLER = '''
from shop_local.functions import current_function


def handler(event, context):
    """Holds until the test releases it (or forever), then reports where it ran."""
    if "started" in event:
        event["started"]()
    if "release" in event:
        event["release"].wait()
    if "fail" in event:
        raise RuntimeError(event["fail"])
    return {"function": current_function(), "remaining_ms": context.get_remaining_time_in_millis()}
'''


@pytest.fixture
def slow(tmp_path: Path) -> LocalFunctions:
    """Two functions of one handler, `Slow` with a Timeout of 1 second and `Patient` with 60,
    and two slots to run in."""
    (tmp_path / "slow.py").write_text(HANDLER)
    specs = [
        FunctionSpec(
            logical_id=logical_id,
            code_uri=tmp_path,
            handler="slow.handler",
            timeout=timeout,
            memory=128,
            environment={},
        )
        for logical_id, timeout in (("Slow", 1), ("Patient", 60))
    ]
    return LocalFunctions(specs, {"Slow": "stack-Slow", "Patient": "stack-Patient"}, concurrency=2)


def test_a_handler_within_its_timeout_answers_with_its_result(slow: LocalFunctions) -> None:
    result = slow.invoke("Slow", {})

    assert result["function"] == "Slow"
    assert 0 < result["remaining_ms"] <= 1000
    assert current_function() is None  # the caller's thread was never inside the function


def test_a_handler_past_its_timeout_fails_as_lambda_reports_it(slow: LocalFunctions) -> None:
    release = threading.Event()
    try:
        with pytest.raises(FunctionError) as failed:
            slow.invoke("Slow", {"release": release})
    finally:
        release.set()  # the worker thread cannot be killed: let it finish

    assert failed.value.error_type == TIMED_OUT == "Sandbox.Timedout"
    assert failed.value.message == "Task timed out after 1.00 seconds"


def test_a_handlers_own_error_keeps_its_type(slow: LocalFunctions) -> None:
    with pytest.raises(FunctionError) as failed:
        slow.invoke("Slow", {"fail": "broken"})

    assert (failed.value.error_type, failed.value.message) == ("RuntimeError", "broken")


def test_no_more_invocations_run_at_once_than_there_are_slots(slow: LocalFunctions) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)
    outcomes: list[Any] = []

    def call() -> None:
        try:
            event = {"release": release, "started": started.release}
            outcomes.append(slow.invoke("Patient", event))
        except FunctionError as error:
            outcomes.append(error.error_type)

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    assert started.acquire(timeout=5)
    assert started.acquire(timeout=5)
    # Two run; the third waits for a slot (its clock not started), so it cannot start while
    # the first two hold theirs, far within their Timeout.
    assert not started.acquire(timeout=0.5)
    release.set()
    for caller in callers:
        caller.join()

    assert started.acquire(timeout=5)  # the third ran once a slot was free
    assert [o["function"] for o in outcomes] == ["Patient"] * 3


def test_every_running_handler_has_a_connection_of_its_own() -> None:
    assert LOCAL_CONCURRENCY <= aws.MAX_POOL_CONNECTIONS
