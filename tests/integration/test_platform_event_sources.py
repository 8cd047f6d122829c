"""What the event-driven services rest on, run by `shop serve` from the platform's own fixture
template (tests/fixtures/platform) and observed only through the emulator's API:

- EventBridge rules: pattern operators (prefix, numeric, anything-but, exists), each target's
  input (as is, Input, InputPath, InputTransformer), and targets of every kind the services use:
  SQS, Lambda (invoked asynchronously, retried on error) and Step Functions;
- SQS event sources: MaximumConcurrency, BatchSize beyond 10 with a batching window, and a
  failed batch redelivered after the visibility timeout until the queue's redrive takes it;
- DynamoDB stream sources: partial batch failures, bisection on function errors, retries, and
  the record Lambda sends the on-failure destination.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from served_platform import (
    STACK,
    Platform,
    ServeFailed,
    drain,
    eventually,
    get_item,
    queue_url,
    serve,
)

BUS = f"{STACK}-bus"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def served_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    try:
        with serve(tmp_path_factory.mktemp("event-sources")) as platform:
            yield platform
    except ServeFailed as failure:
        pytest.fail(str(failure))


# ---------------------------------------------------------------------------------- helpers
def put_events(platform: Platform, source: str, details: list[dict[str, Any]]) -> None:
    response = platform.client("events").put_events(
        Entries=[
            {"EventBusName": BUS, "Source": source, "DetailType": "Test", "Detail": json.dumps(d)}
            for d in details
        ]
    )
    assert response["FailedEntryCount"] == 0, response


def everything_in(platform: Platform, queue: str) -> list[Any]:
    """The parsed bodies of every message a queue holds now (deleted)."""
    bodies: list[Any] = []
    while messages := drain(platform, queue):
        bodies.extend(json.loads(m["Body"]) for m in messages)
    return bodies


def number(item: dict[str, Any] | None, attribute: str) -> int:
    return int(item[attribute]["N"]) if item and attribute in item else 0


def write_items(platform: Platform, table: str, items: list[dict[str, Any]]) -> None:
    """One BatchWriteItem: the stream records of all of them reach the poller together."""
    platform.client("dynamodb").batch_write_item(
        RequestItems={f"{STACK}-{table}": [{"PutRequest": {"Item": item}} for item in items]}
    )


def stream_of(platform: Platform, table: str) -> tuple[str, str]:
    """The table's stream ARN and its (one) shard's id."""
    arn: str = platform.client("dynamodb").describe_table(TableName=f"{STACK}-{table}")["Table"][
        "LatestStreamArn"
    ]
    shards = platform.client("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"][
        "Shards"
    ]
    return arn, str(shards[0]["ShardId"])


def failure_for(platform: Platform, queue: str, start_sequence: str) -> dict[str, Any]:
    """Wait for the on-failure record whose batch starts at `start_sequence`."""
    seen: list[dict[str, Any]] = []

    def arrived() -> dict[str, Any] | None:
        seen.extend(everything_in(platform, queue))
        return next(
            (r for r in seen if r["DDBStreamBatchInfo"]["startSequenceNumber"] == start_sequence),
            None,
        )

    return eventually(arrived, f"an on-failure record from {start_sequence} in {queue}")


def handled_event(platform: Platform, run: str) -> dict[str, Any] | None:
    """What on_event.py stored for `run` once it succeeded."""
    item = get_item(platform, "Things", f"event#{run}")
    return item if item and "payload" in item else None


def sequence_of(platform: Platform, key: str) -> str:
    item = eventually(lambda: get_item(platform, "Things", key), f"{key} delivered")
    return str(item["sequence"]["S"])


# ---------------------------------------------------------------------------------- rules
def test_rule_pattern_delivers_only_events_matching_prefix_numeric_anything_but_and_exists(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex
    matching = {"run": run, "sku": "SKU-1", "quantity": 3, "status": "placed", "customer": "c"}
    cases = {
        "matches": matching,
        "matches at the bounds": {**matching, "quantity": 10, "status": "paid"},
        "prefix differs": {**matching, "sku": "XSKU-1"},
        "more than 10": {**matching, "quantity": 11},
        "not above 0": {**matching, "quantity": 0},
        "a string, not a number": {**matching, "quantity": "3"},
        "cancelled": {**matching, "status": "cancelled"},
        "refunded": {**matching, "status": "refunded"},
        "has a coupon": {**matching, "coupon": "WINTER"},
        "no customer": {k: v for k, v in matching.items() if k != "customer"},
    }

    # Matched events reach an SQS target while PutEvents runs: no waiting needed.
    put_events(served_platform, "fixture.orders", [{**d, "case": c} for c, d in cases.items()])

    delivered = everything_in(served_platform, "Matched")
    assert sorted(e["detail"]["case"] for e in delivered if e["detail"]["run"] == run) == [
        "matches",
        "matches at the bounds",
    ]


def test_rule_targets_get_the_event_or_their_input_input_path_or_transformed_input(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex

    put_events(served_platform, "fixture.shape", [{"run": run, "quantity": 4}])

    bodies = everything_in(served_platform, "Shaped")
    (event,) = [b for b in bodies if "detail-type" in b]
    assert set(event) == {
        *("version", "id", "detail-type", "source", "account", "time", "region"),
        *("resources", "detail"),
    }
    assert event["source"] == "fixture.shape"
    assert event["detail-type"] == "Test"
    assert event["detail"] == {"run": run, "quantity": 4}
    assert (event["account"], event["region"], event["version"]) == (ACCOUNT, REGION, "0")
    assert ISO_SECONDS.match(event["time"])
    others = sorted((b for b in bodies if "detail-type" not in b), key=json.dumps)
    assert others == sorted(
        [
            {"constant": True},  # Input
            {"run": run, "quantity": 4},  # InputPath $.detail
            {"run": run, "quantity": 4, "rule": f"{STACK}-ShapeOrders"},  # InputTransformer
        ],
        key=json.dumps,
    )


def test_rule_invokes_a_lambda_target_with_the_event_retrying_errors_as_async_invoke_does(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex

    # The function fails twice: Lambda's two retries of an asynchronous invocation see it
    # through.
    put_events(served_platform, "fixture.dispatch", [{"run": run, "fail_times": 2}])

    item = eventually(partial(handled_event, served_platform, run), "the function's success")
    assert number(item, "attempts") == 3
    payload = json.loads(item["payload"]["S"])
    assert payload["source"] == "fixture.dispatch"
    assert payload["detail"] == {"run": run, "fail_times": 2}
    assert (payload["account"], payload["region"]) == (ACCOUNT, REGION)
    assert ISO_SECONDS.match(payload["time"])


def test_rule_starts_a_state_machine_execution_with_the_event(served_platform: Platform) -> None:
    run = uuid.uuid4().hex
    sfn = served_platform.client("stepfunctions")
    (machine,) = [
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == f"{STACK}-EchoStateMachine"
    ]

    put_events(served_platform, "fixture.dispatch", [{"run": run}])

    def started() -> dict[str, Any] | None:
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            described: dict[str, Any] = sfn.describe_execution(
                executionArn=execution["executionArn"]
            )
            if json.loads(described["input"])["detail"].get("run") == run:
                return described if described["status"] != "RUNNING" else None
        return None

    execution = eventually(started, f"an execution of the echo state machine for {run}")
    assert execution["status"] == "SUCCEEDED"
    started_with = json.loads(execution["input"])
    assert started_with["source"] == "fixture.dispatch"
    assert started_with["detail"] == {"run": run}
    assert json.loads(execution["output"]) == started_with


def test_a_functions_sam_eventbridge_rule_event_invokes_it(served_platform: Platform) -> None:
    run = uuid.uuid4().hex

    put_events(served_platform, "fixture.sam-rule", [{"run": run}])

    item = eventually(partial(handled_event, served_platform, run), "the function's run")
    assert json.loads(item["payload"]["S"])["source"] == "fixture.sam-rule"


# ---------------------------------------------------------------------------------- SQS
def test_sqs_source_runs_at_most_maximum_concurrency_invocations_at_once(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex
    maximum = 3  # the template's ScalingConfig.MaximumConcurrency
    served_platform.client("sqs").send_message_batch(
        QueueUrl=queue_url(served_platform, "ConcurrentQueue"),
        Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"run": run, "concurrency": maximum})}
            for i in range(2 * maximum)
        ],
    )

    # Each invocation waits until `maximum` are in flight together, then holds a second:
    # fewer pollers never reach the barrier, more would push the peak above it.
    def all_done() -> dict[str, Any] | None:
        found = get_item(served_platform, "Things", f"hold#{run}")
        return found if number(found, "done") >= 2 * maximum else None

    item = eventually(all_done, "every message processed", timeout=40)
    assert number(item, "peak") == maximum


def test_sqs_source_gathers_batches_beyond_ten_messages_within_its_batching_window(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex
    sqs, url = served_platform.client("sqs"), queue_url(served_platform, "BatchedQueue")
    sent = 28
    for start in range(0, sent, 10):
        if start:
            # Apart, well inside the 2 s window: only a window gathers them into one batch.
            time.sleep(0.3)
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"run": run, "n": i})}
                for i in range(start, min(start + 10, sent))
            ],
        )

    def sizes() -> list[int] | None:
        item = get_item(served_platform, "Things", f"batches#{run}")
        found = [int(n["N"]) for n in item["sizes"]["L"]] if item else []
        return found if sum(found) >= sent else None

    batches = eventually(sizes, f"all {sent} messages delivered")
    # BatchSize 25, two pollers: whichever way they share the 28 messages, one gathered more
    # than one send (and one receive) brings; none more than 25; and the rest went when the
    # window closed.
    assert max(batches) > 10
    assert max(batches) <= 25


def test_sqs_whole_batch_failure_is_redelivered_after_the_visibility_timeout_then_redriven(
    served_platform: Platform,
) -> None:
    crash = f"crash-{uuid.uuid4().hex}"
    served_platform.client("sqs").send_message(
        QueueUrl=queue_url(served_platform, "WorkQueue"), MessageBody=crash
    )

    redriven: list[str] = []

    def in_dlq() -> bool:
        redriven.extend(m["Body"] for m in drain(served_platform, "WorkDeadLetterQueue"))
        return crash in redriven

    eventually(in_dlq, f"{crash} in the DLQ")
    # Delivered, failed, visible again after the queue's 1 s visibility timeout, delivered
    # again: the queue's maxReceiveCount (2) then moved it to the DLQ.
    assert number(get_item(served_platform, "Things", f"deliveries#{crash}"), "deliveries") == 2
    assert get_item(served_platform, "Results", crash) is None


# ---------------------------------------------------------------------------------- streams
def ledger_entry(run: str, name: str, fail_times: int = 0) -> dict[str, Any]:
    return {"id": {"S": f"{run}-{name}"}, "fail_times": {"N": str(fail_times)}}


def deliveries(platform: Platform, run: str, name: str) -> int:
    return number(get_item(platform, "Things", f"ledger#{run}-{name}"), "deliveries")


def test_stream_partial_failure_is_retried_from_the_lowest_failed_sequence_number(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex

    # b fails on its first delivery and is reported by its sequence number.
    write_items(
        served_platform,
        "Ledger",
        [ledger_entry(run, "a"), ledger_entry(run, "b", 1), ledger_entry(run, "c")],
    )

    eventually(lambda: deliveries(served_platform, run, "c") == 2, "c delivered again")
    assert deliveries(served_platform, run, "a") == 1  # before the failure: checkpointed
    assert deliveries(served_platform, run, "b") == 2
    b_sequence = sequence_of(served_platform, f"ledger#{run}-b")
    assert not [
        r
        for r in everything_in(served_platform, "LedgerFailures")
        if r["DDBStreamBatchInfo"]["startSequenceNumber"] == b_sequence
    ]


def test_stream_batch_out_of_retries_goes_to_the_on_failure_queue_as_lambda_records_it(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex
    stream_arn, shard_id = stream_of(served_platform, "Ledger")

    # e always fails: with MaximumRetryAttempts 2, e and what follows it are tried 3 times.
    write_items(
        served_platform,
        "Ledger",
        [ledger_entry(run, "d"), ledger_entry(run, "e", 99), ledger_entry(run, "f")],
    )

    e_sequence = sequence_of(served_platform, f"ledger#{run}-e")
    record = failure_for(served_platform, "LedgerFailures", e_sequence)
    assert record["requestContext"].pop("requestId")
    timestamp = record.pop("timestamp")
    batch = record.pop("DDBStreamBatchInfo")
    first_arrival = batch.pop("approximateArrivalOfFirstRecord")
    last_arrival = batch.pop("approximateArrivalOfLastRecord")
    assert record == {
        "requestContext": {
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-LedgerFunction",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        # The function answered each time (with a partial failure): no function error.
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
        "version": "1.0",
    }
    assert batch == {
        "shardId": shard_id,
        "startSequenceNumber": e_sequence,
        "endSequenceNumber": sequence_of(served_platform, f"ledger#{run}-f"),
        "batchSize": 2,
        "streamArn": stream_arn,
    }
    assert ISO_MILLISECONDS.match(timestamp)
    assert ISO_SECONDS.match(first_arrival)
    assert ISO_SECONDS.match(last_arrival)
    assert [deliveries(served_platform, run, name) for name in "def"] == [1, 3, 3]

    # The shard moves on past what it discarded.
    write_items(served_platform, "Ledger", [ledger_entry(run, "g")])
    eventually(lambda: deliveries(served_platform, run, "g") == 1, "g delivered")


def test_stream_function_error_bisects_the_batch_down_to_the_failing_record(
    served_platform: Platform,
) -> None:
    run = uuid.uuid4().hex
    names = ["a", "b", "poison", "d"]

    write_items(
        served_platform,
        "Batches",
        [
            {
                "id": {"S": f"{run}-{name}"},
                "run": {"S": run},
                "poison": {"BOOL": name == "poison"},
            }
            for name in names
        ],
    )

    poison_sequence = sequence_of(served_platform, f"sequence#{run}-poison")
    record = failure_for(served_platform, "BatchesFailures", poison_sequence)
    item = get_item(served_platform, "Things", f"bisect#{run}")
    assert item is not None
    batches = [[name.split("-", 1)[1] for name in b["S"].split(",")] for b in item["batches"]["L"]]
    # Halves, in stream order, down to the record that fails alone (MaximumRetryAttempts 0:
    # a split is not a retry); then the shard carries on with d.
    assert batches == [["a", "b", "poison", "d"], ["a", "b"], ["poison", "d"], ["poison"], ["d"]]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # every batch it was in
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        poison_sequence,
        poison_sequence,
        1,
    )
