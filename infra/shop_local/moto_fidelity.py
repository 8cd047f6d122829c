"""Where moto's DynamoDB differs from DynamoDB in ways our invariants depend on, and the fix.

1. Atomicity. DynamoDB applies each conditional write, and each transaction, atomically. moto's
   server runs requests on many threads with no lock, so two conditional writes can both pass
   their condition before either writes: the emulator itself would oversell. Every DynamoDB and
   DynamoDB Streams request is serialized here.
2. Transactions. moto deep-copies every table a transaction touches before applying it, and on
   a failed condition restores the copy: this costs time in proportion to the table (a
   transaction on the demo catalog copies thousands of items) and leaks stream records of writes
   that were rolled back. Here a transaction checks every condition first and writes only when
   all hold, as DynamoDB does; nothing to roll back.

3. SQS under concurrent pollers. moto's receive walks a queue's messages with no lock, so two
   pollers of one queue (a consumer's MaximumConcurrency, or the redrive to a DLQ) can change
   the pending set under each other ("Set changed size during iteration") or both move one
   message to the DLQ (a 500 on the second). Each queue's receive pass, delete, visibility
   change and send is serialized here; a long poll waits between passes, outside the lock.

The platform installs this once, beside the Lambda seam; tests in
tests/integration/test_emulator_fidelity.py race it.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.sqs.models import SQSBackend

_LOCK = threading.RLock()
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        _serialize(handler)
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    _serialize_queues()


_QUEUE_LOCKS: dict[str, threading.RLock] = {}
_QUEUE_LOCKS_GUARD = threading.Lock()


def _queue_lock(queue_name: str) -> threading.RLock:
    with _QUEUE_LOCKS_GUARD:
        return _QUEUE_LOCKS.setdefault(queue_name, threading.RLock())


def _serialize_queues() -> None:
    receive = SQSBackend.receive_message

    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with _queue_lock(queue_name):
                found = receive(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            pause = min(1.0, max(remaining, 0.05))
            self.get_queue(queue_name).wait_for_messages(pause)  # type: ignore[arg-type]

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    for name in ("delete_message", "change_message_visibility", "send_message"):
        original = getattr(SQSBackend, name)

        def locked(
            self: SQSBackend, queue_name: str, *args: Any, _run: Any = original, **kw: Any
        ) -> Any:
            with _queue_lock(queue_name):
                return _run(self, queue_name, *args, **kw)

        setattr(SQSBackend, name, locked)


def _serialize(handler: Any) -> None:
    original = handler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    handler.call_action = call_action


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    targets: set[tuple[str, str]] = set()
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    plan: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []

    # Phase 1: every condition, against the state before the transaction.
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        table_name = op["TableName"]
        if op_type == "Put":
            table = self.get_table(table_name)
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            holds = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ).expr(current)
            if not holds:
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        reasons.append((None, None, None))
        plan.append((op_type, op, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)

    # Phase 2: the writes. Conditions were checked under the lock, so they still hold; an
    # invalid expression fails here, and what was written before it is put back.
    done: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key, before in plan:
            table_name = op["TableName"]
            names = op.get("ExpressionAttributeNames") or {}
            values = op.get("ExpressionAttributeValues") or {}
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=None,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            if op_type != "ConditionCheck":
                done.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(done):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise
