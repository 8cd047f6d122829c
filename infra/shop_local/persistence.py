"""The local platform's state across restarts: what moto and the Stripe emulator hold, kept in
the platform's state folder.

Both emulators keep everything in memory. Each store here is a snapshot plus a journal
(`Journal`): every change is appended to the journal before its answer is sent, so whatever a
caller was told happened survives a crash of the process (`kill -9`); a restart loads the
snapshot, applies the journal, and writes a new snapshot (compaction). The journal is flushed
to the operating system, not fsynced: a killed process loses nothing, a power cut may lose the
last writes (this is a development platform, and an fsync per write would double its cost).

What is kept (`EmulatorState`):
- DynamoDB: every item, and each table's stream records with their sequence numbers (stream
  pollers resume after the last record they delivered, see `StreamCheckpoints`). The journal
  holds each successful write request as it was sent, replayed through moto at start.
- S3: every object (the recommendation model).
- SQS: every message not yet deleted (after a restart, each is received again).
- Stripe: in `shop_local.stripe_emulator`, on the same `Journal`.
Not kept: Step Functions executions (a checkout whose execution died with the process is
finished or compensated by the recovery sweep, as on AWS after a stalled execution) and an
EventBridge delivery in progress at the moment of the crash.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from moto.s3.models import s3_backends
from moto.s3.responses import S3Response
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

from shop_local.moto_fidelity import _LOCK as DYNAMODB_LOCK
from shop_local.moto_fidelity import _queue_lock as queue_lock
from shop_local.moto_speed import message_with_receipt, wire_value

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
COMPACT_AFTER_RECORDS = 20_000  # a restart after a long run replays at most this many


class Journal:
    """A snapshot and the changes since, under `directory`, named `<name>.<generation>.*`.

    Compaction writes the snapshot of generation g+1 atomically and only then starts its
    journal and removes generation g: a crash at any point leaves one consistent pair.
    `snapshot`, when given, takes one from the thread that appends, and the journal compacts
    itself every COMPACT_AFTER_RECORDS records; without it (a store whose snapshot would race
    its writers), only at start and stop."""

    def __init__(
        self, directory: Path, name: str, snapshot: Callable[[], bytes] | None = None
    ) -> None:
        self.directory, self.name, self.snapshot = directory, name, snapshot
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: Any = None
        self.generation = max(self._generations(), default=0)
        self.records = 0  # appended since the snapshot

    def _generations(self) -> Iterator[int]:
        pattern = re.compile(rf"{re.escape(self.name)}\.(\d+)\.snapshot")
        for path in self.directory.iterdir():
            if match := pattern.fullmatch(path.name):
                yield int(match.group(1))

    def _path(self, generation: int, kind: str) -> Path:
        return self.directory / f"{self.name}.{generation}.{kind}"

    def recover(self) -> tuple[bytes | None, list[bytes]]:
        """The last snapshot (None: never written) and every whole record appended after it;
        a record torn by a crash mid-write was never acknowledged, and is dropped."""
        snapshot_path = self._path(self.generation, "snapshot")
        snapshot = snapshot_path.read_bytes() if snapshot_path.exists() else None
        journal_path = self._path(self.generation, "journal")
        data = journal_path.read_bytes() if journal_path.exists() else b""
        records, at = [], 0
        while at + _LENGTH.size <= len(data):
            (length,) = _LENGTH.unpack_from(data, at)
            if at + _LENGTH.size + length > len(data):
                break
            records.append(data[at + _LENGTH.size : at + _LENGTH.size + length])
            at += _LENGTH.size + length
        return snapshot, records

    def append(self, record: bytes) -> None:
        with self._lock:
            if self._file is None:
                self._file = self._path(self.generation, "journal").open("ab")
            self._file.write(_LENGTH.pack(len(record)) + record)
            self._file.flush()
            self.records += 1
            due = self.snapshot is not None and self.records >= COMPACT_AFTER_RECORDS
        if due and self.snapshot is not None:
            self.compact(self.snapshot())

    def compact(self, snapshot: bytes) -> None:
        with self._lock:
            old = self.generation
            partial = self._path(old + 1, "snapshot.partial")
            partial.write_bytes(snapshot)
            os.replace(partial, self._path(old + 1, "snapshot"))
            if self._file is not None:
                self._file.close()
                self._file = None
            self.generation, self.records = old + 1, 0
            for kind in ("journal", "snapshot"):
                self._path(old, kind).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# ---------------------------------------------------------------------------------- DynamoDB
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
_journals: dict[str, Journal | None] = {"dynamodb": None, "s3": None, "sqs": None}
_installed = False


def _install_hooks() -> None:
    """Journal writes as moto answers them (once per process; a platform without a state
    folder to keep leaves `_journals` empty, and nothing is written)."""
    global _installed
    if _installed:
        return
    _installed = True
    call_action = DynamoHandler.call_action

    def journaled_call_action(self: DynamoHandler) -> Any:
        # Under moto_fidelity's lock (reentrant), whichever of the two wraps the other: the
        # journal's order is the order moto applied the writes in.
        with DYNAMODB_LOCK:
            response = call_action(self)
            journal = _journals["dynamodb"]
            if journal is not None and response[0] == 200:
                action = self._get_action()
                if action in DYNAMODB_WRITES:
                    body = self.body  # moto keeps the request's JSON parsed, or as it came
                    if isinstance(body, bytes):
                        body = body.decode()
                    elif not isinstance(body, str):  # binary values parsed to bytes
                        body = json.dumps(body, default=wire_value)
                    journal.append(json.dumps([self.region, action, body]).encode())
            return response

    DynamoHandler.call_action = journaled_call_action  # type: ignore[method-assign]

    put_object, delete_object = S3Response.put_object, S3Response.delete_object

    def journaled_put_object(self: S3Response) -> Any:
        response = put_object(self)
        journal = _journals["s3"]
        if journal is not None:
            key = self.backend.get_object(self.bucket_name, self.parse_key_name())
            if key is not None:
                journal.append(pickle.dumps(("put", self.bucket_name, key.name, key)))
        return response

    def journaled_delete_object(self: S3Response) -> Any:
        response = delete_object(self)
        journal = _journals["s3"]
        if journal is not None:
            journal.append(pickle.dumps(("delete", self.bucket_name, self.parse_key_name(), None)))
        return response

    S3Response.put_object = journaled_put_object  # type: ignore[method-assign]
    S3Response.delete_object = journaled_delete_object  # type: ignore[method-assign]

    # SQS: a message's arrival in a queue (sent, or moved to its dead-letter queue), its
    # deletion and its queue's purge; receives are not kept (after a restart every message is
    # received again, as after a visibility timeout). A deletion is journaled where the API
    # makes it, the backend, so that moto_speed's Queue.delete_message (installed or
    # uninstalled before or after this) is never left out, or left in alone.
    add_message, delete_message = Queue.add_message, SQSBackend.delete_message

    def journaled_add_message(self: Queue, message: Message) -> None:
        add_message(self, message)
        journal = _journals["sqs"]
        # moto drops a message only as a FIFO queue's duplicate; a standard queue keeps each
        # one (no walk of a long backlog per send).
        if journal is not None and (
            not self.fifo_queue or any(m is message for m in self._messages)
        ):
            journal.append(pickle.dumps(("add", _queue_id(self), message)))

    def journal_removal(queue: Queue, ids: list[str]) -> None:
        journal = _journals["sqs"]
        if journal is not None and ids:
            journal.append(pickle.dumps(("remove", _queue_id(queue), ids)))

    def journaled_delete_message(self: SQSBackend, queue_name: str, receipt_handle: str) -> None:
        with queue_lock(queue_name):  # moto_fidelity's (reentrant): as the delete holds it
            queue = self.get_queue(queue_name)
            gone = message_with_receipt(queue, receipt_handle)
            delete_message(self, queue_name, receipt_handle)
            journal_removal(queue, [] if gone is None else [gone.id])

    purge_queue = SQSBackend.purge_queue

    def journaled_purge_queue(self: SQSBackend, queue_name: str) -> None:
        with queue_lock(queue_name):
            queue = self.get_queue(queue_name)
            gone = [m.id for m in queue._messages]
            purge_queue(self, queue_name)  # every message, or refused (and nothing journaled)
            journal_removal(queue, gone)

    Queue.add_message = journaled_add_message  # type: ignore[method-assign]
    SQSBackend.delete_message = journaled_delete_message  # type: ignore[method-assign]
    SQSBackend.purge_queue = journaled_purge_queue  # type: ignore[method-assign]


def _tables() -> Iterator[tuple[tuple[str, str, str], Any]]:
    for account, regions in dynamodb_backends.items():
        for region, backend in regions.items():
            for name, table in backend.tables.items():
                yield (account, region, name), table


def _dynamodb_snapshot() -> bytes:
    with DYNAMODB_LOCK:
        state = {
            where: {
                "items": table.items,
                "stream": None
                if table.stream_shard is None
                else (table.stream_shard.starting_sequence_number, table.stream_shard.items),
            }
            for where, table in _tables()
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def _restore_dynamodb(snapshot: bytes) -> None:
    """Put the snapshot's items and stream records into the tables just provisioned (a table
    the template no longer declares is left out; one it redefined keeps its items)."""
    state: dict[tuple[str, str, str], dict[str, Any]] = pickle.loads(snapshot)  # our own file
    with DYNAMODB_LOCK:
        for where, table in _tables():
            saved = state.get(where)
            if saved is None:
                continue
            table.items = saved["items"]
            table.__dict__.pop("_shop_speed_buckets", None)  # moto_speed rebuilds its index
            if saved["stream"] is not None and table.stream_shard is not None:
                table.stream_shard.starting_sequence_number, table.stream_shard.items = saved[
                    "stream"
                ]


def _replay_dynamodb(endpoint: str, records: list[bytes]) -> None:
    """Send each journaled write to moto again, in order, as it was first sent."""
    session = requests.Session()
    for record in records:
        region, action, body = json.loads(record)
        response = session.post(
            endpoint,
            data=body.encode(),
            headers={
                "X-Amz-Target": f"DynamoDB_20120810.{action}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/dynamodb/aws4_request,"
                    " SignedHeaders=host, Signature=0"
                ),
            },
            timeout=60,
        )
        if response.status_code != 200:  # it succeeded the first time, on the same state
            log.warning("replaying %s failed: %s", action, response.text[:500])


# ---------------------------------------------------------------------------------------- S3
def _buckets() -> Iterator[tuple[tuple[str, str], Any]]:
    for account, partitions in s3_backends.items():
        for backend in partitions.values():
            for name, bucket in backend.buckets.items():
                yield (account, name), bucket


def _s3_snapshot() -> bytes:
    latest = {
        where: {name: bucket.keys[name] for name in bucket.keys} for where, bucket in _buckets()
    }
    return pickle.dumps(latest, protocol=pickle.HIGHEST_PROTOCOL)


def _restore_s3(snapshot: bytes | None, records: list[bytes]) -> None:
    by_name = {name: bucket for (_, name), bucket in _buckets()}
    if snapshot is not None:
        for (_, name), keys in pickle.loads(snapshot).items():
            if name in by_name:
                for key_name, key in keys.items():
                    by_name[name].keys[key_name] = key
    for record in records:
        change, bucket_name, key_name, key = pickle.loads(record)
        bucket = by_name.get(bucket_name)
        if bucket is None:
            continue
        if change == "put":
            bucket.keys[key_name] = key
        else:
            bucket.keys.pop(key_name, None)


# --------------------------------------------------------------------------------------- SQS
def _queue_id(queue: Queue) -> tuple[str, str, str]:
    return (queue.account_id, queue.region, queue.name)


def _queues() -> dict[tuple[str, str, str], Queue]:
    return {
        (account, region, name): queue
        for account, regions in sqs_backends.items()
        for region, backend in regions.items()
        for name, queue in backend.queues.items()
    }


def _sqs_snapshot() -> bytes:
    messages = {where: list(queue._messages) for where, queue in _queues().items()}
    return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)


def _restore_sqs(snapshot: bytes | None, records: list[bytes]) -> None:
    queues = _queues()
    where_is: dict[str, tuple[str, str, str]] = {}  # message id -> its queue
    if snapshot is not None:
        for where, messages in pickle.loads(snapshot).items():
            if where in queues:
                queues[where]._messages = list(messages)
                where_is.update((m.id, where) for m in messages)
    for record in records:
        change, where, payload = pickle.loads(record)
        if where not in queues:
            continue
        if change == "add":  # sent, or moved here from the queue it was in (its DLQ's source)
            if (before := where_is.get(payload.id)) is not None and before in queues:
                queues[before]._messages = [
                    m for m in queues[before]._messages if m.id != payload.id
                ]
            queues[where]._messages.append(payload)
            where_is[payload.id] = where
        else:
            ids = set(payload)
            queues[where]._messages = [m for m in queues[where]._messages if m.id not in ids]


# ------------------------------------------------------------------------------------ the lot
class EmulatorState:
    """What moto holds, kept under `directory` (the platform's state folder)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Its snapshot is taken under the lock every DynamoDB request holds: consistent.
        self.dynamodb = Journal(directory, "dynamodb", _dynamodb_snapshot)
        self.s3 = Journal(directory, "s3")
        self.sqs = Journal(directory, "sqs")

    def restore(self, endpoint: str) -> None:
        """After provisioning, before anything is served: the state as the last run left it;
        then compact, and journal every write from here on."""
        _install_hooks()
        snapshot, records = self.dynamodb.recover()
        if snapshot is not None:
            _restore_dynamodb(snapshot)
        _replay_dynamodb(endpoint, records)
        self.dynamodb.compact(_dynamodb_snapshot())
        s3_snapshot, s3_records = self.s3.recover()
        _restore_s3(s3_snapshot, s3_records)
        self.s3.compact(_s3_snapshot())
        sqs_snapshot, sqs_records = self.sqs.recover()
        _restore_sqs(sqs_snapshot, sqs_records)
        self.sqs.compact(_sqs_snapshot())
        _journals.update(dynamodb=self.dynamodb, s3=self.s3, sqs=self.sqs)

    def save(self) -> None:
        """At a clean stop: one snapshot each, so the next start replays nothing."""
        _journals.update(dynamodb=None, s3=None, sqs=None)
        self.dynamodb.compact(_dynamodb_snapshot())
        self.s3.compact(_s3_snapshot())
        self.sqs.compact(_sqs_snapshot())
        for journal in (self.dynamodb, self.s3, self.sqs):
            journal.close()


SAVED_STATE = (
    "dynamodb.*",
    "s3.*",
    "sqs.*",
    "stripe.*",
    "carrier.*",
    "stream-checkpoints.json",
)


def forget_saved_state(directory: Path) -> None:
    """Remove every store's snapshot, journal and the stream checkpoints from `directory`."""
    if directory.exists():
        for pattern in SAVED_STATE:
            for path in directory.glob(pattern):
                path.unlink()


class StreamCheckpoints:
    """The last stream record each poller delivered, per shard, as Lambda's event source
    mapping keeps it: after a restart a poller resumes after it, neither losing the records
    written before the crash nor delivering the whole stream again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._positions: dict[str, dict[str, str]] = (
            json.loads(path.read_text()) if path.exists() else {}
        )

    def position(self, poller: str, shard_id: str) -> str | None:
        with self._lock:
            return self._positions.get(poller, {}).get(shard_id)

    def advance(self, poller: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._positions.setdefault(poller, {})[shard_id] = sequence_number
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self._positions))
            os.replace(partial, self.path)
