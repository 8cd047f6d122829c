"""What Lambda's event source mappings and EventBridge schedules do, for the template's
functions, each source a daemon thread:

- SQS (`SqsPoller`): up to `ScalingConfig.MaximumConcurrency` pollers (five without it, as
  Lambda starts with), each gathering up to `BatchSize` messages (10 000 for a standard queue)
  for up to `MaximumBatchingWindowInSeconds`, then one invocation; partial batch failures
  (`ReportBatchItemFailures`); a failed batch is left to become visible again after the queue's
  visibility timeout, and the queue's own redrive policy moves poison messages to its DLQ.
- DynamoDB streams (`StreamPoller`): in order per shard; `ReportBatchItemFailures` (retry from
  the lowest failed sequence number), `BisectBatchOnFunctionError`, `MaximumRetryAttempts`,
  `MaximumRecordAgeInSeconds`, and the on-failure destination gets the record Lambda sends.
- Schedules (`Schedule`): fire a scheduled rule at each time its `rate(...)` or `cron(...)`
  expression names; the rule's targets are reached through `shop_local.eventbridge`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shop import aws
from shop_local.functions import FunctionError, LocalFunctions
from shop_local.moto_speed import (
    delivered_from_stream,
    reading_stream,
    stopped_reading_stream,
    stream_writes,
    table_of,
    wait_for_queue_messages,
    wait_for_stream_writes,
)
from shop_local.persistence import StreamCheckpoints
from shop_local.provision import ACCOUNT, REGION
from shop_local.schedules import parse_schedule

log = logging.getLogger("shop_local.event_sources")

SQS_DEFAULT_CONCURRENCY = 5  # Lambda's first pollers for a queue without MaximumConcurrency
SQS_MAX_BATCH = {"standard": 10_000, "fifo": 10}
SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most 10 messages a call
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024  # a synchronous invocation's request
SQS_MESSAGE_LIMIT = 256 * 1024
IDLE_WAIT_SECONDS = 1.0  # an idle poller's wait for a message before it looks again
STREAM_IDLE_WAIT_SECONDS = 1.0  # a stream poller's wait for a write before it reads anyway


class EventSource(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.idle = threading.Event()  # set while the source has nothing to deliver

        self._handled = 0  # deliveries started plus those finished (see `activity`)
        self._handled_lock = threading.Lock()

    @property
    def activity(self) -> int:
        """Grows whenever a delivery of this source starts or ends: unchanged across a wait,
        the source delivered nothing in it (`LocalPlatform.wait_until_idle`)."""
        return self._handled

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        with self._handled_lock:
            self._handled += 1
        try:
            yield
        finally:
            with self._handled_lock:
                self._handled += 1

    def stop(self) -> None:
        self.stopping.set()


def mapping_source(
    functions: LocalFunctions,
    function: str,
    kind: str,
    props: dict[str, Any],
    checkpoints: StreamCheckpoints | None = None,
) -> EventSource | None:
    """The poller for one of a function's `SQS` or `DynamoDB` events (its resolved Properties);
    None for other event types. Stream pollers resume from `checkpoints` when given."""
    if not props.get("Enabled", True):
        return None
    report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
    if kind == "SQS":
        arn = str(props["Queue"])
        name = arn.rsplit(":", 1)[-1]
        return SqsPoller(
            functions,
            function,
            aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"],
            arn,
            batch_size=int(props.get("BatchSize", 10)),
            batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            max_concurrency=(props.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            report_failures=report_failures,
            fifo=name.endswith(".fifo"),
        )
    if kind == "DynamoDB":
        failure_arn = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        return StreamPoller(
            functions,
            function,
            str(props["Stream"]),
            batch_size=int(props.get("BatchSize", 100)),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            policy=StreamRetryPolicy(
                max_retries=int(props.get("MaximumRetryAttempts", -1)),
                max_record_age=float(props.get("MaximumRecordAgeInSeconds", -1)),
                bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                report_failures=report_failures,
            ),
            on_failure_queue=_queue_url(failure_arn) if failure_arn else None,
            checkpoints=checkpoints,
        )
    return None


def _queue_url(arn: str) -> str | None:
    if ":sqs:" not in arn:
        log.warning("on-failure destination %s is not a queue: not sent locally", arn)
        return None
    url: str = aws.client("sqs").get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
    return url


# ---------------------------------------------------------------------------------- SQS
class SqsPoller(EventSource):
    """Pollers for one queue: each receives, gathers a batch, invokes, deletes what succeeded,
    so at most `concurrency` invocations run at once."""

    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        batching_window: float = 0.0,
        max_concurrency: int | None = None,
        report_failures: bool = False,
        fifo: bool = False,
    ) -> None:
        super().__init__(f"sqs:{function}")
        self.functions, self.function = functions, function
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.batch_size = max(1, min(batch_size, SQS_MAX_BATCH["fifo" if fifo else "standard"]))
        self.batching_window = batching_window
        self.concurrency = int(max_concurrency or SQS_DEFAULT_CONCURRENCY)
        self.report_failures = report_failures
        # moto's long poll spins while a FIFO group is in flight: poll FIFO queues short instead.
        self.wait_seconds = 0 if fifo else 1
        self._busy = 0
        self._lock = threading.Lock()
        # One poller of the queue receives at a time, the others deliver or wait their turn:
        # when a message arrives every waiting poller wakes, and each one asking for it cost a
        # receive that came back empty (four of five pollers, for every message).
        self._receiving = threading.Lock()

    def run(self) -> None:
        pollers = [
            threading.Thread(target=self._poll, name=f"{self.name}#{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join()

    def _poll(self) -> None:
        sqs = aws.client("sqs")
        while not self.stopping.is_set():
            try:
                with self._receiving:
                    if self.stopping.is_set():
                        return
                    messages = self._gather(sqs)
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("receive from %s failed", self.queue_url)
                self.stopping.wait(0.5)
                continue
            if not messages:
                with self._lock:
                    if self._busy == 0:
                        self.idle.set()
                if not self.wait_seconds:
                    self.stopping.wait(0.2)
                continue
            try:
                with self.delivering():
                    self._deliver(sqs, messages)
            except Exception:
                log.exception("%s: delivering a batch failed", self.name)
            finally:
                with self._lock:
                    self._busy -= 1

    def _gather(self, sqs: Any) -> list[dict[str, Any]]:
        """Up to BatchSize messages: what the first receive brings, then more until the batch is
        full, the batching window closes or the payload would pass Lambda's limit. Counts this
        poller busy from its first message."""
        messages: list[dict[str, Any]] = []
        size = 0
        window_ends = 0.0
        while len(messages) < self.batch_size:
            remaining = window_ends - time.monotonic()
            if messages and remaining <= 0 and self.batching_window:
                break
            wait = self.wait_seconds if not messages else max(0, min(int(remaining), 20))
            if not messages:
                # Ask only once a receive would hand out a message (moto_speed 16).
                ready = wait_for_queue_messages(self.queue_arn, IDLE_WAIT_SECONDS)
                if ready is False:
                    return messages
                if ready:
                    wait = 0
            received = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if received and not messages:
                with self._lock:
                    self._busy += 1
                    self.idle.clear()
                window_ends = time.monotonic() + self.batching_window
            messages.extend(received)
            size += sum(len(m["Body"].encode()) for m in received)
            if not messages or self.stopping.is_set():
                break
            if size > INVOKE_PAYLOAD_LIMIT - SQS_MESSAGE_LIMIT:
                break  # one more message could take the request past Lambda's limit
            if not self.batching_window and (not received or self.batch_size <= SQS_RECEIVE_MAX):
                break  # no window: what the queue has now is the batch
            # Let the batch fill before asking again: a receive returns as soon as one
            # message is there, and asking at once would cost a request per message. And ask
            # only if the window brings another one.
            ready = wait_for_queue_messages(
                self.queue_arn, max(0.0, window_ends - time.monotonic())
            )
            if ready is False:
                break
            self.stopping.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
        return messages

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        try:
            result = self.functions.invoke(self.function, event)
        except FunctionError:
            log.exception("%s failed on a batch of %d", self.function, len(messages))
            return  # the whole batch becomes visible again after the visibility timeout
        failed = self._failed(result, {m["MessageId"] for m in messages})
        if failed is None:
            log.warning("%s: batchItemFailures names no message of the batch", self.function)
            return  # Lambda treats that response as the whole batch failing
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + SQS_RECEIVE_MAX])
                ],
            )

    def _failed(self, result: Any, message_ids: set[str]) -> set[str] | None:
        """The ids the function reported failed: empty for success, None when the response
        makes the whole batch fail (an empty, missing or unknown itemIdentifier)."""
        if not self.report_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        failed: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in message_ids:
                return None
            failed.add(identifier)
        return failed

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


# ---------------------------------------------------------------------------------- streams
@dataclass(frozen=True)
class StreamRetryPolicy:
    """How a stream event source mapping handles a failed batch (Lambda's defaults)."""

    max_retries: int = -1  # -1: until the records expire from the stream
    max_record_age: float = -1  # seconds; -1: no limit
    bisect: bool = False
    report_failures: bool = False


@dataclass
class Discarded:
    """Records Lambda gave up on, and why: what the on-failure destination is told."""

    records: list[dict[str, Any]]
    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invocations: int  # invocations that carried these records
    function_error: str | None  # "Unhandled" when the function raised


@dataclass
class _Batch:
    records: list[dict[str, Any]]
    retries: int = 0
    invocations: int = 0


def process_stream_batch(
    records: list[dict[str, Any]],
    invoke: Callable[[list[dict[str, Any]]], Any],
    policy: StreamRetryPolicy,
    *,
    now: Callable[[], float] = time.time,
    pause: Callable[[float], bool] = lambda seconds: False,
) -> list[Discarded]:
    """Deliver one batch read from a shard as Lambda does, in order, until every record is
    processed or discarded; returns the discarded ones. `invoke` raises FunctionError when the
    function fails; `pause(seconds)` waits before a retry and is true when the poller stops.

    - A function error retries the whole batch, or with bisect splits it in two and delivers
      the halves in turn (a split does not count as a retry, so bisecting reaches single
      records).
    - With ReportBatchItemFailures, the records before the lowest failed sequence number are
      done (checkpointed) and the rest is retried; a response naming no record of the batch
      fails it whole. An empty or missing list is success.
    - After MaximumRetryAttempts retries, or once older than MaximumRecordAgeInSeconds, the
      records are discarded and the shard moves on."""
    discarded: list[Discarded] = []
    pending = [_Batch(records)]
    while pending:
        batch = pending.pop(0)
        expired = _expired_prefix(batch.records, policy.max_record_age, now())
        if expired:
            discarded.append(
                Discarded(batch.records[:expired], "RecordAgeExceeded", batch.invocations, None)
            )
            batch.records = batch.records[expired:]
            if not batch.records:
                continue
        batch.invocations += 1
        function_error: str | None = None
        try:
            result = invoke(batch.records)
            failed_from = _failed_from(result, batch.records) if policy.report_failures else None
        except FunctionError:
            function_error, failed_from = "Unhandled", 0
        if failed_from is None:
            continue
        if function_error and policy.bisect and len(batch.records) > 1:
            half = len(batch.records) // 2
            pending[0:0] = [
                _Batch(batch.records[:half], batch.retries, batch.invocations),
                _Batch(batch.records[half:], batch.retries, batch.invocations),
            ]
            continue
        remaining = batch.records[failed_from:]
        if 0 <= policy.max_retries <= batch.retries:
            discarded.append(
                Discarded(remaining, "RetryAttemptsExhausted", batch.invocations, function_error)
            )
            continue
        if pause(min(0.1 * 2**batch.retries, 2.0)):
            break
        pending.insert(0, _Batch(remaining, batch.retries + 1, batch.invocations))
    return discarded


def _failed_from(result: Any, records: list[dict[str, Any]]) -> int | None:
    """Index of the first record to retry after a partial batch response; None for success."""
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return None
    index = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
    positions = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in index:
            return 0  # Lambda treats a malformed response as the whole batch failing
        positions.append(index[identifier])
    return min(positions)


def _expired_prefix(records: list[dict[str, Any]], max_age: float, now: float) -> int:
    """How many records, from the first (the oldest), are older than max_age."""
    if max_age < 0:
        return 0
    count = 0
    for record in records:
        if now - float(record["dynamodb"]["ApproximateCreationDateTime"]) <= max_age:
            break
        count += 1
    return count


def on_failure_record(
    discarded: Discarded, function_arn: str, stream_arn: str, shard_id: str
) -> dict[str, Any]:
    """The invocation record Lambda sends a stream's on-failure destination: where the records
    are in the stream (not the records themselves)."""
    first, last = discarded.records[0]["dynamodb"], discarded.records[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": discarded.condition,
            "approximateInvokeCount": discarded.invocations,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": discarded.function_error,
        },
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _seconds_iso(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": _seconds_iso(last["ApproximateCreationDateTime"]),
            "batchSize": len(discarded.records),
            "streamArn": stream_arn,
        },
    }


def _seconds_iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SHARDS_LISTED_EVERY_SECONDS = 10.0  # new shards come with a table's stream being re-enabled


class StreamPoller(EventSource):
    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        stream_arn: str,
        *,
        batch_size: int = 100,
        starting_position: str = "LATEST",
        policy: StreamRetryPolicy | None = None,
        on_failure_queue: str | None = None,
        checkpoints: StreamCheckpoints | None = None,
        idle_wait: float = STREAM_IDLE_WAIT_SECONDS,
    ) -> None:
        super().__init__(f"stream:{function}")
        self.checkpoints = checkpoints
        self.idle_wait = idle_wait  # how long it waits for a write before it reads anyway
        self.functions, self.function = functions, function
        self.stream_arn = stream_arn
        self.batch_size = batch_size
        self.starting_position = starting_position
        self.policy = policy or StreamRetryPolicy()
        self.on_failure_queue = on_failure_queue

    def run(self) -> None:
        table = table_of(self.stream_arn)
        reading_stream(table, self.name)
        try:
            self._read(table)
        finally:
            stopped_reading_stream(table, self.name)

    def _read(self, table: str) -> None:
        streams = aws.client("dynamodbstreams")
        iterators: dict[str, str | None] = {}
        shards_listed = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() - shards_listed > SHARDS_LISTED_EVERY_SECONDS:
                    shards = streams.describe_stream(StreamArn=self.stream_arn)[
                        "StreamDescription"
                    ]["Shards"]
                    shards_listed = time.monotonic()
                    for shard in shards:
                        if shard["ShardId"] not in iterators:
                            iterators[shard["ShardId"]] = self._iterator(streams, shard["ShardId"])
                delivered = False
                written = stream_writes(table)
                # Each shard answered with fewer records than asked for: it had no more, so
                # the next read needs a write after `written`, not a read that comes back empty.
                caught_up = written is not None
                for shard_id, iterator in list(iterators.items()):
                    if iterator is None:
                        continue
                    response = streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                    iterators[shard_id] = response.get("NextShardIterator")
                    if len(response.get("Records", [])) >= self.batch_size:
                        caught_up = False
                    if response.get("Records"):
                        delivered = True
                        self.idle.clear()
                        with self.delivering():
                            self._deliver(shard_id, [self._record(r) for r in response["Records"]])
                        last = response["Records"][-1]["dynamodb"]["SequenceNumber"]
                        delivered_from_stream(table, self.name, last)
                        if self.checkpoints is not None:
                            self.checkpoints.advance(self.name, shard_id, last)
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("reading %s failed", self.stream_arn)
                delivered, caught_up = False, False
                written = None
            if not delivered or caught_up:
                self.idle.set()
                # Wait for a write to this table's stream (or a second, or a stop), rather than
                # reading every 0.2 s at idle: three pollers made 30 requests a second.
                wait_for_stream_writes(table, written, self.idle_wait, self.stopping)

    def _iterator(self, streams: Any, shard_id: str) -> str:
        """Where this poller starts reading: after the last record it delivered before a
        restart, else where its mapping says."""
        at = self.checkpoints.position(self.name, shard_id) if self.checkpoints else None
        where: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": at}
            if at is not None
            else {"ShardIteratorType": self.starting_position}
        )
        iterator: str = streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **where
        )["ShardIterator"]
        return iterator

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as Lambda passes it: its creation time in epoch seconds (boto3 parsed it
        into a datetime), this region, the stream's ARN."""
        stream = dict(record["dynamodb"])
        created = stream.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            stream["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            **record,
            "dynamodb": stream,
            "awsRegion": REGION,
            "eventSourceARN": self.stream_arn,
        }

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        def invoke(batch: list[dict[str, Any]]) -> Any:
            try:
                return self.functions.invoke(self.function, {"Records": batch})
            except FunctionError:
                log.exception("%s failed on a stream batch of %d", self.function, len(batch))
                raise

        for discarded in process_stream_batch(
            records, invoke, self.policy, pause=self.stopping.wait
        ):
            log.warning(
                "%s: %d stream records discarded (%s)",
                self.function,
                len(discarded.records),
                discarded.condition,
            )
            if self.on_failure_queue:
                aws.client("sqs").send_message(
                    QueueUrl=self.on_failure_queue,
                    MessageBody=json.dumps(
                        on_failure_record(
                            discarded, self._function_arn(), self.stream_arn, shard_id
                        )
                    ),
                )

    def _function_arn(self) -> str:
        name = self.functions.names[self.functions.logical_id(self.function)]
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


# ---------------------------------------------------------------------------------- schedules
def scheduled_event(
    rule_name: str, at: datetime | None = None, rule_arn: str | None = None
) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn or f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


class Schedule(EventSource):
    """Calls `fire(scheduled_time)` at each time the expression names: a rate counts from the
    start, a cron names minutes of UTC. A time missed by more than a minute (the machine slept)
    is skipped, not caught up, as EventBridge does."""

    def __init__(
        self,
        name: str,
        expression: str,
        fire: Callable[[datetime], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(f"schedule:{name}")
        self.expression = parse_schedule(expression)
        self.fire, self.clock = fire, clock

    def run(self) -> None:
        due = self.expression.next_after(self.clock())
        while due is not None:
            remaining = (due - self.clock()).total_seconds()
            if remaining > 0:
                # Wake at least every minute, so that a clock that jumps is noticed.
                if self.stopping.wait(min(remaining, 60)):
                    return
                continue
            if remaining > -60:
                try:
                    self.fire(due)
                except Exception:
                    log.exception("%s: firing failed", self.name)
            due = self.expression.next_after(max(due, self.clock() - timedelta(seconds=60)))
