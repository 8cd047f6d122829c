"""How a DynamoDB stream source handles what its function answers (process_stream_batch): the
rules of Lambda's stream event source mappings that the integration tests
(test_platform_event_sources.py) do not reach, such as record age, and malformed responses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shop_local.event_sources import (
    Discarded,
    StreamRetryPolicy,
    on_failure_record,
    process_stream_batch,
)
from shop_local.functions import FunctionError


def record(sequence: int, created: float = 1000.0) -> dict[str, Any]:
    return {
        "eventName": "INSERT",
        "dynamodb": {"SequenceNumber": str(sequence), "ApproximateCreationDateTime": created},
    }


class Function:
    """Answers each invocation with the next of `answers` (an exception is raised); records the
    sequence numbers of each batch it is given."""

    def __init__(self, *answers: Any) -> None:
        self.answers: Iterator[Any] = iter(answers)
        self.batches: list[list[int]] = []

    def __call__(self, batch: list[dict[str, Any]]) -> Any:
        self.batches.append([int(r["dynamodb"]["SequenceNumber"]) for r in batch])
        answer = next(self.answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer


def failure(*sequences: int | str | None) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": s} for s in sequences]}


ERROR = FunctionError("ValueError", "bad record")
PARTIAL = StreamRetryPolicy(max_retries=5, report_failures=True)


def sequences(discarded: list[Discarded]) -> list[tuple[list[int], str, int]]:
    return [
        ([int(r["dynamodb"]["SequenceNumber"]) for r in d.records], d.condition, d.invocations)
        for d in discarded
    ]


def test_an_empty_or_missing_failure_list_is_success() -> None:
    answers: list[Any] = [{"batchItemFailures": []}, {"batchItemFailures": None}, {}, None, "done"]
    for answer in answers:
        function = Function(answer)
        assert process_stream_batch([record(1), record(2)], function, PARTIAL) == []
        assert function.batches == [[1, 2]]


def test_reported_failures_retry_from_the_lowest_sequence_number_reported() -> None:
    function = Function(failure("3", "2"), None)

    assert process_stream_batch([record(n) for n in (1, 2, 3, 4)], function, PARTIAL) == []
    assert function.batches == [[1, 2, 3, 4], [2, 3, 4]]


def test_a_response_naming_no_record_of_the_batch_fails_it_whole() -> None:
    malformed_answers: list[dict[str, Any]] = [
        *(failure("99"), failure(""), failure(None)),
        {"batchItemFailures": [{}]},
    ]
    for malformed in malformed_answers:
        function = Function(malformed, None)
        assert process_stream_batch([record(1), record(2)], function, PARTIAL) == []
        assert function.batches == [[1, 2], [1, 2]]


def test_reported_failures_are_ignored_unless_the_mapping_reports_batch_item_failures() -> None:
    function = Function(failure("2"))

    assert process_stream_batch([record(1), record(2)], function, StreamRetryPolicy()) == []
    assert function.batches == [[1, 2]]


def test_function_errors_retry_the_whole_batch_up_to_the_retry_limit() -> None:
    function = Function(ERROR, ERROR, ERROR)

    discarded = process_stream_batch(
        [record(1), record(2)], function, StreamRetryPolicy(max_retries=2)
    )

    assert function.batches == [[1, 2]] * 3
    assert sequences(discarded) == [([1, 2], "RetryAttemptsExhausted", 3)]
    assert discarded[0].function_error == "Unhandled"


def test_without_a_retry_limit_a_failing_batch_is_retried_until_the_poller_stops() -> None:
    function = Function(*[ERROR] * 10)
    pauses: list[float] = []

    def pause(seconds: float) -> bool:
        pauses.append(seconds)
        return len(pauses) == 5  # the poller is told to stop during the fifth pause

    assert process_stream_batch([record(1)], function, StreamRetryPolicy(), pause=pause) == []
    assert len(function.batches) == 5
    assert pauses == sorted(pauses)  # backing off


def test_bisection_delivers_halves_in_order_and_does_not_use_up_retries() -> None:
    function = Function(ERROR, None, ERROR, ERROR, ERROR, None)

    discarded = process_stream_batch(
        [record(n) for n in (1, 2, 3, 4)],
        function,
        StreamRetryPolicy(max_retries=1, bisect=True),
    )

    assert function.batches == [[1, 2, 3, 4], [1, 2], [3, 4], [3], [3], [4]]
    assert sequences(discarded) == [([3], "RetryAttemptsExhausted", 4)]


def test_a_partial_failure_with_bisection_on_retries_from_the_reported_record() -> None:
    function = Function(failure("3"), None)

    process_stream_batch(
        [record(n) for n in (1, 2, 3, 4)],
        function,
        StreamRetryPolicy(max_retries=1, bisect=True, report_failures=True),
    )

    assert function.batches == [[1, 2, 3, 4], [3, 4]]


def clock(*readings: float) -> Callable[[], float]:
    values = iter(readings)
    return lambda: next(values)


def test_records_older_than_the_maximum_age_are_discarded_unread() -> None:
    function = Function(None)

    discarded = process_stream_batch(
        [record(1, created=100), record(2, created=200), record(3, created=950)],
        function,
        StreamRetryPolicy(max_record_age=60),
        now=clock(1000),
    )

    assert function.batches == [[3]]
    assert sequences(discarded) == [([1, 2], "RecordAgeExceeded", 0)]


def test_records_that_grow_too_old_while_retried_are_discarded() -> None:
    function = Function(ERROR, ERROR)

    discarded = process_stream_batch(
        [record(1, created=990), record(2, created=995)],
        function,
        StreamRetryPolicy(max_record_age=60),
        now=clock(1000, 1052, 1100),
    )

    assert function.batches == [[1, 2], [2]]
    assert sequences(discarded) == [([1], "RecordAgeExceeded", 1), ([2], "RecordAgeExceeded", 2)]


def test_the_on_failure_record_locates_the_discarded_records_in_the_stream() -> None:
    discarded = Discarded(
        [record(7, created=1_700_000_000), record(9, created=1_700_000_042)],
        "RetryAttemptsExhausted",
        3,
        "Unhandled",
    )

    sent = on_failure_record(discarded, "arn:function", "arn:stream", "shardId-1")

    assert set(sent) == {
        *("requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"),
    }
    assert sent["requestContext"]["approximateInvokeCount"] == 3
    assert sent["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert sent["DDBStreamBatchInfo"] == {
        "shardId": "shardId-1",
        "startSequenceNumber": "7",
        "endSequenceNumber": "9",
        "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
        "approximateArrivalOfLastRecord": "2023-11-14T22:14:02Z",
        "batchSize": 2,
        "streamArn": "arn:stream",
    }
