"""What Lambda's event source mappings and EventBridge schedules do, for the template's
functions: poll SQS queues (batch size, partial batch failures, visibility timeout; the queue's
own redrive policy moves poison messages to its DLQ), read DynamoDB streams (retries, then the
on-failure destination), and fire `Schedule` events. Each source is one daemon thread."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shop import aws
from shop_local.functions import FunctionError, LocalFunctions
from shop_local.provision import ACCOUNT, REGION

log = logging.getLogger("shop_local.event_sources")


class EventSource(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.idle = threading.Event()  # set while the source has nothing to deliver

    def stop(self) -> None:
        self.stopping.set()


class SqsPoller(EventSource):
    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        report_failures: bool,
    ) -> None:
        super().__init__(f"sqs:{function}")
        self.functions, self.function = functions, function
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.batch_size = min(batch_size, 10)
        self.report_failures = report_failures

    def run(self) -> None:
        sqs = aws.client("sqs")
        while not self.stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("receive from %s failed", self.queue_url)
                time.sleep(0.5)
                continue
            if not messages:
                self.idle.set()
                continue
            self.idle.clear()
            self._deliver(sqs, messages)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        failed: set[str] = set()
        try:
            result = self.functions.invoke(self.function, event)
            if self.report_failures and isinstance(result, dict):
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except FunctionError:
            log.exception("%s failed on a batch of %d", self.function, len(messages))
            return  # the whole batch becomes visible again after the visibility timeout
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )

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


class StreamPoller(EventSource):
    def __init__(
        self,
        functions: LocalFunctions,
        function: str,
        stream_arn: str,
        batch_size: int,
        starting_position: str,
        max_retries: int,
        on_failure_queue: str | None,
    ) -> None:
        super().__init__(f"stream:{function}")
        self.functions, self.function = functions, function
        self.stream_arn = stream_arn
        self.batch_size = batch_size
        self.starting_position = starting_position
        self.max_retries = max_retries
        self.on_failure_queue = on_failure_queue

    def run(self) -> None:
        streams = aws.client("dynamodbstreams")
        iterators: dict[str, str | None] = {}
        while not self.stopping.is_set():
            try:
                shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
                    "Shards"
                ]
                for shard in shards:
                    if shard["ShardId"] not in iterators:
                        iterators[shard["ShardId"]] = streams.get_shard_iterator(
                            StreamArn=self.stream_arn,
                            ShardId=shard["ShardId"],
                            ShardIteratorType=self.starting_position,
                        )["ShardIterator"]
                delivered = False
                for shard_id, iterator in list(iterators.items()):
                    if iterator is None:
                        continue
                    response = streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                    iterators[shard_id] = response.get("NextShardIterator")
                    if response.get("Records"):
                        delivered = True
                        self._deliver(response["Records"])
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("reading %s failed", self.stream_arn)
                delivered = False
            if not delivered:
                self.idle.set()
                self.stopping.wait(0.2)
            else:
                self.idle.clear()

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            record.setdefault("eventSourceARN", self.stream_arn)
            record.setdefault("awsRegion", REGION)
        for attempt in range(self.max_retries + 1):
            try:
                self.functions.invoke(self.function, {"Records": records})
                return
            except FunctionError:
                log.exception("%s failed on stream batch (attempt %d)", self.function, attempt + 1)
                time.sleep(min(0.1 * 2**attempt, 2))
        if self.on_failure_queue:
            aws.client("sqs").send_message(
                QueueUrl=self.on_failure_queue,
                MessageBody=json.dumps(
                    {
                        "function": self.function,
                        "stream": self.stream_arn,
                        "size": len(records),
                        "first": records[0].get("dynamodb", {}).get("SequenceNumber"),
                    }
                ),
            )


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_interval(expression: str) -> float | None:
    """Seconds between runs of a `rate(...)` expression; None for cron (run on demand only)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(rule_name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


class Schedule(EventSource):
    def __init__(self, functions: LocalFunctions, function: str, interval: float) -> None:
        super().__init__(f"schedule:{function}")
        self.functions, self.function, self.interval = functions, function, interval

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.functions.invoke(self.function, scheduled_event(self.function))
            except FunctionError:
                log.exception("scheduled run of %s failed", self.function)
