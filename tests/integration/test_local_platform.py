"""The local platform is generic: a small template of its own (tests/fixtures/platform), unrelated
to the shop, is run whole by `shop serve`: its route, an SQS source with partial batch failures
and a DLQ, a table stream feeding a bus and its rule, schedules, a state machine whose task
runs a real handler, and each function's own environment. Nothing in the platform names any of
these functions or routes. (tests/integration/test_platform_event_sources.py runs the same
template for the finer points of event sources and rules.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import requests
from served_platform import (
    STACK,
    Platform,
    ServeFailed,
    drain,
    eventually,
    get_item,
    queue_url,
    serve,
    settle,
)


@pytest.fixture(scope="module")
def served_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    try:
        with serve(tmp_path_factory.mktemp("platform")) as platform:
            yield platform
    except ServeFailed as failure:
        pytest.fail(str(failure))


# ---------------------------------------------------------------------------------- helpers
def run_state_machine(
    platform: Platform, logical_id: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start an execution (always named: moto reuses the name "None" otherwise) and wait for its
    end; gives its description and its history."""
    sfn = platform.client("stepfunctions")
    (arn,) = [
        machine["stateMachineArn"]
        for machine in sfn.list_state_machines()["stateMachines"]
        if machine["name"] == f"{STACK}-{logical_id}"
    ]
    execution_arn = sfn.start_execution(
        stateMachineArn=arn, name=f"run-{uuid.uuid4().hex}", input=json.dumps(payload)
    )["executionArn"]

    def finished() -> dict[str, Any] | None:
        execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return None if execution["status"] == "RUNNING" else execution

    execution = eventually(finished, f"{execution_arn} to finish", timeout=30)
    history: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return execution, history


# ---------------------------------------------------------------------------------- tests
def test_a_route_added_to_the_template_is_served_with_a_proxy_event(
    served_platform: Platform,
) -> None:
    thing_id = f"thing-{uuid.uuid4().hex}"
    served_platform.client("dynamodb").put_item(
        TableName=f"{STACK}-Things", Item={"id": {"S": thing_id}, "name": {"S": "a widget"}}
    )

    found = requests.get(
        f"{served_platform.url}/things/{thing_id}",
        params={"colour": "red", "size": "L"},
        timeout=10,
    )
    missing = requests.get(f"{served_platform.url}/things/no-such-thing", timeout=10)

    assert found.status_code == 200
    assert found.headers["X-Thing-Id"] == thing_id
    assert found.json() == {
        "thing_id": thing_id,
        "query": {"colour": "red", "size": "L"},
        "resource": "/things/{thing_id}",
        "method": "GET",
        "function": f"{STACK}-GetThingFunction",
        "label": "get-thing",
        "item": {"id": thing_id, "name": "a widget"},
    }
    assert missing.status_code == 404
    assert missing.json()["thing_id"] == "no-such-thing"
    assert missing.json()["query"] is None
    assert missing.json()["item"] is None


def test_sqs_batch_failures_are_retried_then_redriven_to_the_dlq(served_platform: Platform) -> None:
    run = uuid.uuid4().hex
    good = [f"good-{run}-{i}" for i in range(3)]
    poison = f"poison-{run}"
    served_platform.client("sqs").send_message_batch(
        QueueUrl=queue_url(served_platform, "WorkQueue"),
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate([*good, poison])],
    )
    settle(served_platform)

    for body in good:
        eventually(partial(get_item, served_platform, "Results", body), f"{body} in Results")
    redriven: list[str] = []

    def poison_in_dlq() -> bool:
        redriven.extend(m["Body"] for m in drain(served_platform, "WorkDeadLetterQueue"))
        return poison in redriven

    eventually(poison_in_dlq, f"{poison} in the DLQ")

    assert [body for body in redriven if run in body] == [poison]
    assert get_item(served_platform, "Results", poison) is None
    deliveries = get_item(served_platform, "Things", f"deliveries#{poison}")
    assert deliveries is not None
    assert deliveries["deliveries"] == {"N": "2"}  # the queue's maxReceiveCount


def test_stream_changes_reach_the_bus_and_its_rule_target(served_platform: Platform) -> None:
    result_id = f"stream-{uuid.uuid4().hex}"
    served_platform.client("dynamodb").put_item(
        TableName=f"{STACK}-Results", Item={"id": {"S": result_id}}
    )

    def observed() -> dict[str, Any] | None:
        events = [json.loads(m["Body"]) for m in drain(served_platform, "Observed")]
        return next((e for e in events if e["detail"]["id"] == result_id), None)

    event = eventually(observed, f"the event for {result_id} in the Observed queue")

    assert event["source"] == "fixture.results"
    assert event["detail-type"] == "ResultRecorded"
    assert event["detail"] == {"id": result_id, "change": "INSERT"}


def test_state_machine_task_runs_the_real_handler_and_retries_its_error_type(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex

    execution, history = run_state_machine(
        served_platform, "DoubleStateMachine", {"id": run, "number": 21}
    )

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"value": 42}
    failures = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["TransientError"]
    assert json.loads(failures[0]["cause"]) == {
        "errorType": "TransientError",
        "errorMessage": f"{run}: try again",
    }
    attempts = get_item(served_platform, "Things", f"attempts#{run}")
    assert attempts is not None
    assert attempts["attempts"] == {"N": "2"}


def test_state_machine_catch_sees_the_handlers_business_error(served_platform: Platform) -> None:
    run = uuid.uuid4().hex

    execution, _history = run_state_machine(
        served_platform, "DoubleStateMachine", {"id": run, "number": 5, "fail": True}
    )

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "rejected": True,
        "id": run,
        "error": "BusinessError",
        "cause": {"errorType": "BusinessError", "errorMessage": f"{run} is refused"},
    }
    attempts = get_item(served_platform, "Things", f"attempts#{run}")
    assert attempts is not None
    assert attempts["attempts"] == {"N": "1"}  # Retry covers TransientError only


def test_schedules_rate_and_cron_are_registered_and_run_the_handler(
    served_platform: Platform,
) -> None:
    sources = served_platform.control("GET", "sources")["sources"]

    invoked = served_platform.control("POST", "invoke", {"function": "TickFunction"})

    # Exactly the template's event sources, each running: a poller per SQS and stream event,
    # a schedule per scheduled rule (a function's Schedule events, rate or cron, and a rule's
    # own ScheduleExpression), and the rules' deliveries. Api events are the gateway's.
    assert sorted(sources, key=lambda s: s["name"]) == [
        {"name": name, "alive": True}
        for name in sorted(
            [
                "eventbridge:targets",
                f"schedule:{STACK}-HourlyEcho",
                f"schedule:{STACK}-TickFunctionEveryMinute",
                f"schedule:{STACK}-TickFunctionNightly",
                "sqs:CollectFunction",
                "sqs:HoldFunction",
                "sqs:RecordResultsFunction",
                "stream:HalvesFunction",
                "stream:LedgerFunction",
                "stream:PublishResultsFunction",
            ]
        )
    ]
    tick = get_item(served_platform, "Things", invoked["result"]["id"])
    assert tick is not None
    assert tick["source"] == {"S": "aws.events"}
    assert tick["detail_type"] == {"S": "Scheduled Event"}


def test_each_function_sees_its_own_value_of_a_variable_others_also_set(
    served_platform: Platform,
) -> None:
    # FUNCTION_LABEL is "global" in the template's Globals; these two functions override it,
    # each with its own value, and one process runs them both.
    thing = requests.get(f"{served_platform.url}/things/any-thing", timeout=10).json()
    tick = served_platform.control("POST", "invoke", {"function": "TickFunction"})
    again = requests.get(f"{served_platform.url}/things/any-thing", timeout=10).json()

    assert thing["label"] == "get-thing"
    assert tick["result"]["label"] == "tick"
    assert again["label"] == "get-thing"  # the other function's value did not stay behind
