"""The seam between moto's EventBridge and the targets it does not reach. moto matches events
against rules' patterns (prefix, numeric, anything-but, exists, ...: its own `EventPattern`)
but its `Rule.send_to_targets` delivers only to SQS, logs, archives and buses, raises
NotImplementedError for Lambda and Step Functions targets, ignores `Input` and `InputPath`,
delivers for disabled rules, and lets a schedule-only rule match every event. Here the
method is replaced, once (`install`, from `LocalPlatform.start`), by one that does what
EventBridge does:

- a rule matches only while ENABLED, and a rule without a pattern (a schedule) matches no event;
- each target gets its own input: the event, `Input` (constant JSON), `InputPath` (a JSONPath
  into the event) or `InputTransformer` (`InputPathsMap` values put into `InputTemplate`);
- a Lambda target is invoked asynchronously, as EventBridge invokes Lambda: on a worker thread,
  the function's asynchronous retries (`EventInvokeConfig.MaximumRetryAttempts`, 2 by default)
  after an error, here after short pauses instead of Lambda's minutes;
- a Step Functions target starts an execution of the state machine with the input;
- an SQS target gets the input as the message body (`SqsParameters.MessageGroupId` for FIFO);
- other targets (logs, archives, buses, API destinations) stay moto's.

`fire_scheduled_rule` sends a scheduled rule's event to its targets the same way; the platform's
`Schedule` sources call it.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from jsonpath_ng.ext.parser import parse as jsonpath
from moto.events.models import Rule, events_backends
from moto.events.utils import EventMessageType
from moto.sqs.models import sqs_backends

from shop import aws
from shop_local.event_sources import EventSource, scheduled_event
from shop_local.functions import FunctionError, LocalFunctions
from shop_local.provision import ACCOUNT, REGION

log = logging.getLogger("shop_local.eventbridge")

ASYNC_RETRY_PAUSES = (0.5, 1.0)  # Lambda waits about 1 and then 2 minutes
DELIVERY_WORKERS = 4
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")

_original_send_to_targets = Rule.send_to_targets
_deliveries: Deliveries | None = None


class Deliveries(EventSource):
    """Target deliveries waiting to run and running, on a few worker threads; idle when none."""

    def __init__(self, functions: LocalFunctions, workers: int = DELIVERY_WORKERS) -> None:
        super().__init__("eventbridge:targets")
        self.functions = functions
        self.workers = workers
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._pending = 0  # submitted and not finished
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._pending += 1
            self.idle.clear()
        self._jobs.put(job)

    def run(self) -> None:
        for i in range(self.workers):
            threading.Thread(target=self._work, name=f"{self.name}#{i}", daemon=True).start()
        while not self.stopping.wait(0.1):
            with self._lock:
                if self._pending == 0:
                    self.idle.set()

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                with self.delivering():
                    job()
            except Exception:
                log.exception("delivery to a rule target failed")
            finally:
                with self._lock:
                    self._pending -= 1

    # ------------------------------------------------------------------ target kinds
    def invoke_function(self, arn: str, payload: Any) -> None:
        """An asynchronous invocation: the first attempt, then the function's retries."""
        logical_id = self.functions.logical_id(arn)
        retries = self.functions.specs[logical_id].async_retries
        for attempt in range(retries + 1):
            try:
                self.functions.invoke(logical_id, payload)
                return
            except FunctionError:
                log.exception("%s failed on an event (attempt %d)", logical_id, attempt + 1)
            if attempt < retries:
                pause = ASYNC_RETRY_PAUSES[min(attempt, len(ASYNC_RETRY_PAUSES) - 1)]
                if self.stopping.wait(pause):
                    return

    @staticmethod
    def start_execution(arn: str, payload: Any) -> None:
        # Through the emulator's API, as EventBridge calls StartExecution; always named (moto
        # reuses the name "None" otherwise).
        aws.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(payload)
        )


def install(functions: LocalFunctions) -> Deliveries:
    """Replace moto's delivery to rule targets; returns the (started) deliveries source."""
    global _deliveries
    deliveries = Deliveries(functions)
    deliveries.start()
    _deliveries = deliveries

    def send_to_targets(
        self: Rule, original_event: EventMessageType, transform_input: bool = True
    ) -> None:
        if not _enabled(self) or not self.event_pattern.get_pattern():
            return
        if not self.event_pattern.matches_event(original_event):
            return
        _deliver(deliveries, self, dict(original_event), transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    return deliveries


def uninstall() -> None:
    global _deliveries
    Rule.send_to_targets = _original_send_to_targets  # type: ignore[method-assign]
    if _deliveries is not None:
        _deliveries.stop()
        _deliveries = None


def fire_scheduled_rule(bus: str, name: str) -> Callable[[datetime], None]:
    """What a schedule does at each of its times: the rule's targets get a Scheduled Event
    (nothing while the rule is disabled)."""

    def fire(at: datetime) -> None:
        if _deliveries is None:
            raise RuntimeError("shop_local.eventbridge is not installed")
        rule = events_backends[ACCOUNT][REGION].describe_rule(name, bus)
        if _enabled(rule):
            _deliver(_deliveries, rule, scheduled_event(name, at, rule.arn), True)

    return fire


def _enabled(rule: Rule) -> bool:
    # ENABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
    return str(rule.state).startswith("ENABLED")


def _deliver(
    deliveries: Deliveries, rule: Rule, original_event: dict[str, Any], transform_input: bool
) -> None:
    event = _as_delivered(original_event)
    theirs = []
    for target in rule.targets:
        arn = str(target["Arn"])
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service not in ("lambda", "states", "sqs"):
            theirs.append(target)
            continue
        payload = target_input(target, event, rule) if transform_input else event
        if service == "lambda":
            try:
                deliveries.functions.logical_id(arn)
            except KeyError:
                log.warning("rule %s: target %s is not a function of the template", rule.name, arn)
                continue
            deliveries.submit(partial(deliveries.invoke_function, arn, payload))
        elif service == "states":
            deliveries.submit(partial(deliveries.start_execution, arn, payload))
        else:
            _send_to_queue(arn, payload, (target.get("SqsParameters") or {}).get("MessageGroupId"))
    if theirs and "ingestion-time" not in original_event:
        log.warning("rule %s: scheduled events reach only Lambda, Step Functions, SQS", rule.name)
    elif theirs:
        moto_rule = copy.copy(rule)
        moto_rule.targets = theirs
        _original_send_to_targets(moto_rule, original_event, transform_input)  # type: ignore[arg-type]


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as targets receive it: moto keeps `time` as epoch seconds and an
    `ingestion-time` of its own."""
    delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
    if isinstance(delivered.get("time"), int | float):
        delivered["time"] = datetime.fromtimestamp(delivered["time"], UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    return delivered


def target_input(target: dict[str, Any], event: dict[str, Any], rule: Rule | None = None) -> Any:
    """What one target receives for `event`: at most one of Input, InputPath, InputTransformer."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        found = jsonpath(target["InputPath"]).find(event)
        return found[0].value if found else None
    transformer = target.get("InputTransformer")
    if transformer:
        return _transform(transformer, event, rule)
    return event


def _transform(transformer: dict[str, Any], event: dict[str, Any], rule: Rule | None) -> Any:
    values: dict[str, Any] = {
        "aws.events.event.json": event,
        "aws.events.event.ingestion-time": event.get("time"),
    }
    if rule is not None:
        values["aws.events.rule-arn"] = rule.arn
        values["aws.events.rule-name"] = rule.name
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        found = jsonpath(path).find(event)
        values[name] = found[0].value if found else None

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            return match.group(0)
        value = values[match.group(1)]
        # A string goes in as it is (the template quotes it where it wants JSON); anything
        # else as JSON.
        return value if isinstance(value, str) else json.dumps(value)

    text = _PLACEHOLDER.sub(substitute, str(transformer["InputTemplate"]))
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a text template: the target gets the text


def _send_to_queue(arn: str, payload: Any, group_id: str | None) -> None:
    _, _, _, region, account, name = arn.split(":", 5)
    backend = sqs_backends[account][region]
    if group_id and (
        backend.get_queue_attributes(name, ["ContentBasedDeduplication"]).get(
            "ContentBasedDeduplication"
        )
        != "true"
    ):
        # As moto does (AWS needs content-based deduplication for this too).
        log.warning("queue %s needs content-based deduplication for EventBridge", name)
        return
    backend.send_message(
        queue_name=name,
        message_body=payload if isinstance(payload, str) else json.dumps(payload),
        group_id=group_id,
    )
