"""The local platform is generic: a small template of its own (tests/fixtures/platform), unrelated
to the shop, is run whole by `shop serve`: its route, an SQS source with partial batch failures
and a DLQ, a table stream feeding a bus and its rule, a schedule, and a state machine whose task
runs a real handler. Nothing in the platform names any of these functions or routes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import boto3
import pytest
import requests

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "platform"
STACK = "shop-local"  # the platform names resources <stack>-<LogicalId>
REGION = "eu-west-1"
READY_TIMEOUT = 60.0
ADDRESSES = re.compile(r"^shop: API on (\S+)\s+\(AWS emulator on (\S+)\)$", re.MULTILINE)

T = TypeVar("T")


class Platform(NamedTuple):
    url: str
    aws_endpoint: str

    def client(self, service: str) -> Any:
        return emulator_client(self.aws_endpoint, service)


@cache
def emulator_client(endpoint: str, service: str) -> Any:
    """A boto3 client of the emulator that owes nothing to this process's environment."""
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    return session.client(service, endpoint_url=endpoint)


def own_environment() -> dict[str, str]:
    """This environment minus what an in-process platform of another test may have set in it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}


@pytest.fixture(scope="module")
def served_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state_dir = tmp_path_factory.mktemp("platform")
    stdout_path, stderr_path = state_dir / "stdout.log", state_dir / "stderr.log"
    command = [
        *(sys.executable, "-m", "shop_local.cli"),  # the `shop` console script's entry point
        *("--state-dir", str(state_dir), "serve", "--port", "0"),
        *("--template", str(FIXTURE / "template.yaml")),
        *("--openapi", str(state_dir / "absent-openapi.yaml")),  # the platform copes without
    ]
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            cwd=state_dir,
            env={**own_environment(), "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "shop: ready" not in (output := stdout_path.read_text()):
            if process.poll() is not None:
                pytest.fail(
                    f"shop serve exited with {process.returncode}:\n{stderr_path.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"shop serve not ready in {READY_TIMEOUT}s:\n{stderr_path.read_text()}")
            time.sleep(0.1)
        addresses = ADDRESSES.search(output)
        assert addresses is not None, output
        yield Platform(url=addresses.group(1), aws_endpoint=addresses.group(2))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------- helpers
def eventually(probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout}s for {what}")
        time.sleep(0.1)


def settle(platform: Platform) -> None:
    """Let the event sources deliver what is waiting; the assertions still poll, since a message
    that is in flight (invisible) counts as nothing waiting."""
    requests.post(f"{platform.url}/_local/settle", json={"timeout": 10}, timeout=15)


def queue_url(platform: Platform, logical_id: str) -> str:
    url: str = platform.client("sqs").get_queue_url(QueueName=f"{STACK}-{logical_id}")["QueueUrl"]
    return url


def get_item(platform: Platform, logical_id: str, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        platform.client("dynamodb")
        .get_item(TableName=f"{STACK}-{logical_id}", Key={"id": {"S": key}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def drain(platform: Platform, logical_id: str) -> list[dict[str, Any]]:
    """Receive (and delete) what a queue has now: one short long-poll."""
    sqs, url = platform.client("sqs"), queue_url(platform, logical_id)
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


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


def test_schedule_events_are_registered_and_run_the_handler(served_platform: Platform) -> None:
    sources = requests.get(f"{served_platform.url}/_local/sources", timeout=10).json()["sources"]

    invoked = requests.post(
        f"{served_platform.url}/_local/invoke", json={"function": "TickFunction"}, timeout=10
    ).json()

    # Exactly the template's event sources, each running; its Api event is the gateway's.
    assert sorted(sources, key=lambda s: s["name"]) == [
        {"name": "schedule:TickFunction", "alive": True},
        {"name": "sqs:RecordResultsFunction", "alive": True},
        {"name": "stream:PublishResultsFunction", "alive": True},
    ]
    tick = get_item(served_platform, "Things", invoked["result"]["id"])
    assert tick is not None
    assert tick["source"] == {"S": "aws.events"}
    assert tick["detail_type"] == {"S": "Scheduled Event"}
