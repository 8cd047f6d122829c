"""Where moto's costs grow with what it holds, and the fix; the answers stay moto's own.

1. DynamoDB Query. moto's `Table.query` sorts every item of the table (`all_items`) before it
   looks at the key condition, so a query's cost grows with the table, and an index query
   sorts the whole table too. Here the query is handed only the items that can match: the
   partition (`Table.items` is keyed by hash key) for a table, and for an index the items whose
   index hash key has the queried value, kept in buckets per index that every write updates.
   moto's own query then runs on those items: key conditions, sort order, ScanIndexForward,
   Limit, ExclusiveStartKey/LastEvaluatedKey, filters and projections are still its code.
2. Step Functions. moto parses an execution's ASL definition again for every execution (a few
   hundred ms for the checkout saga): the program is kept per definition. Its components keep
   no per-execution state (that is in the `Environment`; moto's own Map and Parallel states
   already run one component tree on many threads). Every task built a new boto3 client:
   clients are kept per region and service (boto3 clients are thread-safe).
3. What moto keeps forever. Finished executions (each with its history and a copy of its state
   machine) and the threads it ran: only the most recent `KEEP_FINISHED_EXECUTIONS` finished
   executions of a state machine are kept, running ones always. Shard iterators: moto stores
   every one it hands out (a stream poller gets a new one per poll, at idle too); DynamoDB
   Streams expires them after 15 minutes, and so does this. Stream records: moto keeps every
   one; DynamoDB Streams keeps 24 hours of them, this the last `KEEP_STREAM_RECORDS` of each
   table, and of the records every stream poller of the table has delivered only the last
   `KEEP_READ_STREAM_RECORDS` (so memory stays flat over a long run, however many checkouts),
   with sequence numbers unchanged; an iterator into records already dropped reads from the
   oldest kept (on AWS: TrimmedDataAccessException).

4. moto's server finds the backend of every request by listing its own package folder (a
   listdir and ~150 isdir calls), under the one lock all requests share: listed once here.
5. moto's server closes the connection after every answer (werkzeug's development server), so
   each request paid a TCP connection and a new server thread: `MotoServer` keeps them open.
6. Stream pollers read every 0.2 s at idle: `wait_for_stream_writes` wakes them on a write to
   their own table.
7. DynamoDB Scan: moto sorts the whole table and walks past every page already read, for each
   page; `_scan` starts moto's scan at the page, by bisection in a key order kept until a write.
8. DynamoDB TransactWriteItems: moto deep-copies every table a transaction touches, once per
   item, to roll back a cancelled one, so a transaction's cost grew with the tables (a batch of
   ten flash sale decisions copied a 10,000-ticket table eleven times). `_transact_write_items`
   checks every condition first, against the state before the transaction (as DynamoDB does;
   its items are distinct, so moto's check-as-it-goes sees the same), writes only when all
   hold, and undoes a write refused mid-way from copies of just the items written before.
9. SQS ReceiveMessage: for every message it hands out, moto asks the queue's attributes for its
   retention period, and computing them counts every message of the queue, so a receive from
   a queue with a backlog of n cost n per message (a 10,000-entry flash sale drained at 13
   messages a second). `_retained` reads the one attribute.
10. DynamoDB Streams GetRecords: moto's response serializer walks every attribute of every image
   against the API's shapes (most of the emulator's time while the demo catalog's 3,000 changes
   are published). The records are kept in their wire form already: `_get_records_response`
   writes them as JSON, with the one value that is not (the creation time) as moto writes it.
11. DynamoDB item answers (GetItem, PutItem, Query, TransactWriteItems, ...): the same walk of
   every attribute against the API's shapes cost more than the operation itself (a batch of
   ten flash sale decisions spent most of its time there). moto's result is the wire form
   already, save binary values (raw bytes) and timestamps: `_dynamodb_answer` writes it as
   JSON, with those two as the serializer writes them. Other answers (DescribeTable, ...) are
   still moto's serializer's.
12. SQS queue attributes: moto computes every attribute of a queue whenever it reads one, and
   the message counts walk every message; SendMessage reads one (ContentBasedDeduplication)
   for every message, so sending to a backlog of n cost n. `_QueueAttributes` is the same
   mapping with each value computed when it is read.
13. moto keeps every model instance it ever creates (`BaseModel.instances_tracked`, for its
   dashboard and for S3's reset): every DynamoDB item a request copied or answered with, every
   SQS message and stream record, long after it was deleted or trimmed, so memory grew by
   ~400 KB a checkout. `_WeakInstances` is the same list of instances, held weakly: what moto
   still holds elsewhere is still listed, the rest can go.

14. Per request, moto's server lists the methods of the handler's class (`inspect.getmembers`,
   a few hundred members) to find the action's method, and draws a 52-character request id
   one `random.choice` at a time: about a sixth of a GetItem's time in the server. The method
   names are listed once per class; the id is drawn in one call, from the same alphabet.
15. Requests to moto are signed with SigV4 (a canonical request, a payload hash, five HMACs),
   and moto does not check signatures. Requests to this process's moto server carry the same
   headers (`Authorization` with the credential scope moto reads the region, service and
   account from, `X-Amz-Date`, the session token) with an unchecked signature; requests to
   anything else are signed as before.
16. SQS event source pollers long-polled each queue once a second at idle (about 40 poller
   threads: 40 receives a second with nothing to do), and inside a batching window asked again
   every 0.1 s. `wait_for_queue_messages` waits on the queue's own condition (moto notifies it
   on every send) until a receive would hand out a message, so a poller asks only then.
17. HTTP headers: both ends of every request to moto parse headers with `http.client`'s
   `parse_headers`, which hands them to the e-mail parser (a feed parser, a policy, a defect
   list: about 6% of a GetItem's round trip). `_parse_headers` builds the same `HTTPMessage`
   directly for the plain case (one `Name: value` per line, names of printable characters,
   no folded lines, no stray CR, a blank line at the end) and leaves anything else to the
   e-mail parser, so every message is what `parse_headers` makes of it.
18. DynamoDB UpdateExpression: moto parses an update's expression twice per write (the request
   handler, to check the names and values it uses, then the backend, to apply it), about
   130 us each, 36 of them a checkout. The tree is kept per expression string: the handler's
   checks only read it, and the backend's validator deep-copies it before it changes anything.
   An expression that does not parse raises as before, every time (errors are not kept).
19. SQS receives and deletes walked the whole queue. A receive lists the visible messages
   first (two properties and two clock reads a message), and a delete looked for its receipt
   handle by walking the queue twice, building every message's list of handles (the state
   journal walked it a third time). In a queue of 10,000 messages a receive of ten took 30 ms
   and their delete 22 ms (2 and 1 ms in a queue of 100), so a flash sale's drain slowed as
   its backlog grew, and took the accept path's interpreter with it.
   - The visible messages are listed with one clock read, comparing the same two times.
   - Each receipt handle moto hands out is kept (weakly) with its message. A delete finds the
     message by it, checks it is still in that queue, and removes it as moto does. A handle
     not known (a message restored from a previous run, a made-up handle) goes through moto's
     own walk, so an unknown handle is refused as before.
20. DynamoDB UpdateExpression checks: each update runs ten passes over the expression's tree
   (1.4 ms of a 1.5 ms UpdateItem for the flash sale's standing, eight SETs; a worker's
   transaction holds eleven). Three only check the expression's shape against its names and
   the table's keys (one SET, ADD or REMOVE clause each, no path set twice, no key changed):
   - those three run once per tree, names and key attributes; a shape that passed them
     passes again, so later updates skip them (one that failed is checked, and refused,
     every time);
   - every pass asked its class for the node types it handles by building its map of
     handlers at each node; the types are listed once per class.
   The passes that read the item and the values (and change the tree's copy) run every time.

The platform installs this once, beside moto_fidelity (whose lock serializes DynamoDB requests);
tests/integration/test_emulator_speed.py checks that the answers are the same as moto's.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import collections
import collections.abc
import contextlib
import datetime
import functools
import hashlib
import http.client
import inspect
import io
import json
import os
import re
import string
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.auth
import moto.core.responses as moto_responses
from botocore.exceptions import NoCredentialsError
from moto import backends as moto_backends
from moto.core.common_models import BaseModel
from moto.core.responses import ActionContext, ActionResult
from moto.core.utils import (
    camelcase_to_underscores,
    method_names_from_class,
    unix_time,
    unix_time_millis,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import GlobalSecondaryIndex, StreamShard, Table
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import (
    ActionCountValidator,
    OverlappingPathsValidator,
    UpdateExpressionValidator,
    UpdateHashRangeKeyValidator,
    Validator,
)
from moto.dynamodb.responses import DynamoResult
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_api._internal.moto_random import MotoRandom
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sqs.models import Message as SqsMessage
from moto.sqs.models import Queue as SqsQueue
from moto.sqs.models import SQSBackend, sqs_backends
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.parser.utils import TMP_THREADS
from werkzeug.serving import make_server

from shop_local.moto_fidelity import _LOCK as DYNAMODB_LOCK

KEEP_FINISHED_EXECUTIONS = 200  # per state machine; DescribeExecution answers for these
SHARD_ITERATOR_SECONDS = 15 * 60  # DynamoDB Streams' iterator lifetime
MAX_SHARD_ITERATORS = 10_000  # a backstop, should the pollers outrun the expiry
KEEP_STREAM_RECORDS = 10_000  # per table stream; DynamoDB Streams keeps 24 hours of them
KEEP_READ_STREAM_RECORDS = 100  # per table stream, of the records every poller has delivered
PROGRAM_CACHE_SIZE = 64  # distinct definitions kept parsed
UPDATE_EXPRESSIONS_KEPT = 512  # distinct update expressions kept parsed (the shop has ~40)

_installed = False
_originals: dict[str, Any] = {}


def install() -> None:
    """Patch moto in this process; `SHOP_MOTO_SPEED=0` leaves it as it is (to measure it)."""
    global _installed
    if _installed or os.environ.get("SHOP_MOTO_SPEED") == "0":
        return
    _installed = True
    _originals.update(
        query=Table.query,
        scan=Table.scan,
        put_item=Table.put_item,
        delete_item=Table.delete_item,
        update_item=DynamoDBBackend.update_item,
        transact_write_items=DynamoDBBackend.transact_write_items,
        retained=SQSBackend.is_message_valid_based_on_retention_period,
        entrypoint=ExecutionWorker._get_evaluation_entrypoint,
        start_execution=StepFunctionsParserBackend.start_execution,
        get_shard_iterator=DynamoDBStreamsBackend.get_shard_iterator,
        get_records=DynamoDBStreamsBackend.get_records,
        get_records_response=DynamoDBStreamsHandler.get_records,
        stream_add=StreamShard.add,
        stream_get=StreamShard.get,
        moto_modules=moto_backends.list_of_moto_modules,
        queue_attributes=SqsQueue.attributes,
        model_new=BaseModel.__dict__["__new__"],
        method_names=moto_responses.method_names_from_class,  # type: ignore[attr-defined]
        random_string=MotoRandom.get_random_string,
        add_auth=botocore.auth.SigV4Auth.add_auth,
        parse_headers=http.client.parse_headers,
        update_expression=UpdateExpressionParser.__dict__["make"],
        mark_received=SqsMessage.mark_received,
        delete_message=SqsQueue.delete_message,
        visible_messages=SqsQueue.messages,
        update_processors=UpdateExpressionValidator.get_ast_processors,
        nodes_to_be_processed=DepthFirstTraverser.nodes_to_be_processed,
    )
    Table.query = _query  # type: ignore[method-assign]
    Table.scan = _scan  # type: ignore[method-assign]
    Table.put_item = _put_item  # type: ignore[method-assign]
    Table.delete_item = _delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_entrypoint = _entrypoint  # type: ignore[method-assign]
    StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
    DynamoDBStreamsHandler.get_records = _get_records_response  # type: ignore[method-assign]
    StreamShard.add = _stream_add  # type: ignore[method-assign]
    StreamShard.get = _stream_get  # type: ignore[method-assign]
    DynamoResult.execute_result = _dynamodb_answer  # type: ignore[method-assign,assignment]
    SqsQueue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]
    BaseModel.__new__ = staticmethod(_new_model)  # type: ignore[method-assign]
    moto_responses.method_names_from_class = _method_names  # type: ignore[attr-defined]
    MotoRandom.get_random_string = _random_string  # type: ignore[method-assign]
    botocore.auth.SigV4Auth.add_auth = _add_auth
    http.client.parse_headers = _parse_headers  # type: ignore[assignment]
    UpdateExpressionParser.make = classmethod(_parsed_update_expression)
    SqsMessage.mark_received = _mark_received  # type: ignore[method-assign]
    SqsQueue.delete_message = _delete_message  # type: ignore[method-assign]
    SqsQueue.messages = property(_visible_messages)  # type: ignore[assignment,method-assign]
    UpdateExpressionValidator.__init__ = _validator_init  # type: ignore[method-assign]
    UpdateExpressionValidator.get_ast_processors = _update_processors  # type: ignore[method-assign]
    UpdateExpressionValidator.validate = _validate_update  # type: ignore[method-assign]
    DepthFirstTraverser.nodes_to_be_processed = _nodes_to_be_processed
    modules = tuple(moto_backends.list_of_moto_modules())  # the installed package's folders
    moto_backends.list_of_moto_modules = lambda: modules
    _share_boto_clients()


def installed() -> bool:
    return _installed


_moto_queries = 0  # > 0: moto's own Query, to compare answers with


@contextlib.contextmanager
def moto_queries() -> Iterator[None]:
    """Within this block every Query is moto's own (tests compare answers with it)."""
    global _moto_queries
    with DYNAMODB_LOCK:
        _moto_queries += 1
    try:
        yield
    finally:
        with DYNAMODB_LOCK:
            _moto_queries -= 1


def uninstall() -> None:
    """Put moto back as it was (the benchmark measures "before" this way)."""
    global _installed
    if not _installed:
        return
    _installed = False
    Table.query = _originals["query"]  # type: ignore[method-assign]
    Table.scan = _originals["scan"]  # type: ignore[method-assign]
    Table.put_item = _originals["put_item"]  # type: ignore[method-assign]
    Table.delete_item = _originals["delete_item"]  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _originals["update_item"]  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _originals["transact_write_items"]  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _originals["retained"]  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_entrypoint = _originals["entrypoint"]  # type: ignore[method-assign]
    StepFunctionsParserBackend.start_execution = _originals["start_execution"]  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _originals["get_shard_iterator"]  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _originals["get_records"]  # type: ignore[method-assign]
    DynamoDBStreamsHandler.get_records = _originals["get_records_response"]  # type: ignore[method-assign]
    StreamShard.add = _originals["stream_add"]  # type: ignore[method-assign]
    StreamShard.get = _originals["stream_get"]  # type: ignore[method-assign]
    DynamoResult.execute_result = ActionResult.execute_result  # type: ignore[method-assign]
    SqsQueue.attributes = _originals["queue_attributes"]  # type: ignore[method-assign]
    moto_backends.list_of_moto_modules = _originals["moto_modules"]
    BaseModel.__new__ = _originals["model_new"]  # type: ignore[method-assign]
    moto_responses.method_names_from_class = _originals["method_names"]  # type: ignore[attr-defined]
    MotoRandom.get_random_string = _originals["random_string"]  # type: ignore[method-assign]
    botocore.auth.SigV4Auth.add_auth = _originals["add_auth"]
    http.client.parse_headers = _originals["parse_headers"]
    UpdateExpressionParser.make = _originals["update_expression"]
    SqsMessage.mark_received = _originals["mark_received"]  # type: ignore[method-assign]
    SqsQueue.delete_message = _originals["delete_message"]  # type: ignore[method-assign]
    SqsQueue.messages = _originals["visible_messages"]  # type: ignore[method-assign]
    for name in ("__init__", "validate"):  # inherited from moto's Validator
        delattr(UpdateExpressionValidator, name)
    UpdateExpressionValidator.get_ast_processors = _originals["update_processors"]  # type: ignore[method-assign]
    DepthFirstTraverser.nodes_to_be_processed = _originals["nodes_to_be_processed"]
    for module, original in _replaced_clients:
        module.boto_client_for = original
    _replaced_clients.clear()


# ---------------------------------------------------------------------- DynamoDB Query
_BUCKETS = "_shop_speed_buckets"  # on each Table: {index name: _Buckets}


@dataclass
class _Buckets:
    """The items of one index by the value of its hash key, each bucket also kept in moto's
    query order (`sort_attributes`: the index's range key, then the table's keys)."""

    attribute: str
    key_attributes: list[str]  # an item lacking one is not in the index
    sort_attributes: list[str]
    by_value: dict[DynamoType, dict[tuple[Any, Any], Item]] = field(default_factory=dict)
    value_of: dict[tuple[Any, Any], tuple[DynamoType, tuple[Any, ...]]] = field(
        default_factory=dict
    )
    # per value: the items' sort keys in order, and their table keys in the same order
    ordered: dict[DynamoType, tuple[list[tuple[Any, ...]], list[tuple[Any, Any]]]] = field(
        default_factory=dict
    )

    def remove(self, key: tuple[Any, Any]) -> None:
        entry = self.value_of.pop(key, None)
        if entry is None:
            return
        value, sort_key = entry
        bucket = self.by_value[value]
        bucket.pop(key, None)
        keys, table_keys = self.ordered[value]
        at = bisect.bisect_left(keys, sort_key)
        del keys[at], table_keys[at]
        if not bucket:
            del self.by_value[value], self.ordered[value]

    def add(self, key: tuple[Any, Any], item: Item) -> None:
        if not all(item.attrs.get(a) for a in self.key_attributes):
            return  # DynamoDB indexes only the items that have the index's key attributes
        value = item.attrs[self.attribute]
        sort_key = tuple(item.attrs[a] for a in self.sort_attributes)
        self.by_value.setdefault(value, {})[key] = item
        self.value_of[key] = (value, sort_key)
        keys, table_keys = self.ordered.setdefault(value, ([], []))
        at = bisect.bisect_left(keys, sort_key)
        keys.insert(at, sort_key)
        table_keys.insert(at, key)


def _stored(table: Table, hash_key: Any, range_key: Any) -> Item | None:
    # Not table.items[...]: it is a defaultdict, and a lookup would add an empty partition.
    partition = table.items.get(hash_key)
    if table.range_key_attr is None:
        return partition if isinstance(partition, Item) else None
    if not isinstance(partition, dict):
        return None
    found = partition.get(range_key)
    return found if isinstance(found, Item) else None


def _every_item(table: Table) -> list[Item]:
    if table.range_key_attr is None:
        return [i for i in table.items.values() if isinstance(i, Item)]
    return [i for partition in table.items.values() for i in partition.values()]


def _sort_attributes(table: Table, index: Any) -> list[str]:
    """The attributes moto's query sorts an index's items by, as moto's query derives them."""
    hash_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    range_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if range_keys:
        range_attrs: list[str | None] = [*range_keys, table.range_key_attr]
    elif isinstance(index, GlobalSecondaryIndex) and table.range_key_attr:
        range_attrs = [table.range_key_attr, table.range_key_attr]
    else:
        range_attrs = [table.hash_key_attr, table.range_key_attr]
    attributes: list[str] = table._generate_attr_to_sort_by(
        [*hash_keys, table.hash_key_attr], range_attrs
    )
    return [a for a in attributes if a not in hash_keys]  # one value per bucket


def _index_buckets(table: Table, index: Any) -> _Buckets | None:
    indexes: dict[str, _Buckets] = table.__dict__.setdefault(_BUCKETS, {})
    hash_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    key_attributes = [k["AttributeName"] for k in index.schema]
    buckets = indexes.get(index.name)
    if buckets is None or buckets.key_attributes != key_attributes:  # new, or redefined
        buckets = _Buckets(hash_keys[0], key_attributes, _sort_attributes(table, index))
        try:
            for item in _every_item(table):
                buckets.add((item.hash_key, item.range_key), item)
        except (TypeError, KeyError):  # an unhashable or missing key value: leave it to moto
            indexes.pop(index.name, None)
            return None
        indexes[index.name] = buckets
    return buckets


def _reindex(table: Table, hash_key: Any, range_key: Any) -> None:
    """After a write of one item: move it to the buckets its new attributes put it in."""
    table.__dict__.pop(_KEY_ORDER, None)  # the scan's order of keys may have changed
    indexes: dict[str, _Buckets] | None = table.__dict__.get(_BUCKETS)
    if not indexes:
        return
    item = _stored(table, hash_key, range_key)
    key = (hash_key, range_key)
    for name, buckets in list(indexes.items()):
        buckets.remove(key)
        if item is not None:
            try:
                buckets.add(key, item)
            except (TypeError, KeyError):
                del indexes[name]


_KEY_ORDER = "_shop_key_order"
_SCAN_SIGNATURE = inspect.signature(Table.scan)


def _key_order(table: Table) -> list[Any]:
    """The table's item keys in the order moto's scan walks them, kept until a write."""
    order: list[Any] | None = table.__dict__.get(_KEY_ORDER)
    if order is None:
        if table.range_key_attr is None:
            order = sorted(i.hash_key for i in _every_item(table))
        else:
            order = sorted((i.hash_key, i.range_key) for i in _every_item(table))
        table.__dict__[_KEY_ORDER] = order
    return order


def _scan(self: Table, *args: Any, **kwargs: Any) -> Any:
    """A table's Scan from its ExclusiveStartKey. moto sorts every item and walks past the
    pages already read for each page, so reading a table page by page cost the square of its
    size (100 s for 17,000 baskets in pages of 500). Here moto's scan is handed only the
    items of this page onward, found by bisection in the table's key order."""
    original: Callable[..., Any] = _originals["scan"]
    bound = _SCAN_SIGNATURE.bind(self, *args, **kwargs)
    arguments = bound.arguments
    with DYNAMODB_LOCK:
        if (
            _moto_queries
            or arguments.get("index_name")
            or arguments.get("filters")
            or tuple(arguments.get("segments") or (None, None)) != (None, None)
        ):
            return original(self, *args, **kwargs)
        order = _key_order(self)
        start = 0
        exclusive = arguments.get("exclusive_start_key")
        if exclusive:
            hash_key = DynamoType(exclusive[self.hash_key_attr])
            if self.range_key_attr is None:
                start = bisect.bisect_right(order, hash_key)
            else:
                start = bisect.bisect_right(
                    order, (hash_key, DynamoType(exclusive[self.range_key_attr]))
                )
        limit = arguments.get("limit")
        keys = order[start : start + limit + 1] if limit else order[start:]
        if self.range_key_attr is None:
            page = [_stored(self, k, None) for k in keys]
        else:
            page = [_stored(self, h, r) for h, r in keys]
        candidates = [item for item in page if item is not None]
        arguments["exclusive_start_key"] = None  # the candidates begin after it
        self.__dict__["all_items"] = lambda: candidates
        try:
            return original(*bound.args, **bound.kwargs)
        finally:
            del self.__dict__["all_items"]


_QUERY_SIGNATURE = inspect.signature(Table.query)


def _candidates(table: Table, arguments: dict[str, Any]) -> list[Item] | None:
    """The items moto's query may return, or None to let moto look at every item."""
    index_name = arguments.get("index_name")
    if not index_name:
        hash_key = arguments.get("hash_key")
        if hash_key is None:
            return None
        partition = table.items.get(hash_key)
        if isinstance(partition, Item):
            return [partition]
        return [i for i in (partition or {}).values() if isinstance(i, Item)]
    index = {i.name: i for i in table.all_indexes()}.get(index_name)
    if index is None:
        return None  # moto raises its own validation error
    hash_keys = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    conditions = dict(arguments.get("hash_key_conditions") or [])
    if not hash_keys or hash_keys[0] not in conditions:
        return None
    buckets = _index_buckets(table, index)
    if buckets is None:
        return None
    try:
        value = conditions[hash_keys[0]]
        bucket = buckets.by_value.get(value, {})
    except TypeError:
        return None
    simple = (
        len(hash_keys) == 1
        and len(buckets.key_attributes) <= 2
        and len(arguments.get("range_key_conditions") or []) <= 1
        and not arguments.get("filter_kwargs")
    )
    if simple and value in buckets.ordered:
        window = _window(table, buckets, value, arguments)
        if window is not None:
            return window
    # Still what the table holds: a safeguard, moto checks the key conditions again anyway.
    return [item for key, item in bucket.items() if _stored(table, key[0], key[1]) is item]


def _window(
    table: Table, buckets: _Buckets, value: DynamoType, arguments: dict[str, Any]
) -> list[Item] | None:
    """The stretch of a bucket moto's query reads before it stops: from the ExclusiveStartKey
    on, in the query's direction, up to and including the item after the `Limit`-th that meets
    the range condition (moto breaks there, and that item decides LastEvaluatedKey). moto
    skips anything before the start key and checks the conditions itself."""
    keys, table_keys = buckets.ordered[value]
    items = buckets.by_value[value]
    forward = arguments.get("scan_index_forward") is not False
    limit = arguments.get("limit")
    start = arguments.get("exclusive_start_key")
    if start:
        if not all(a in start for a in buckets.sort_attributes):
            return None
        at = tuple(DynamoType(start[a]) for a in buckets.sort_attributes)
        # one more than needed on the near side: moto skips it
        low = max(0, bisect.bisect_left(keys, at) - 1) if forward else 0
        high = len(keys) if forward else min(len(keys), bisect.bisect_right(keys, at) + 1)
    else:
        low, high = 0, len(keys)
    positions = range(low, high) if forward else range(high - 1, low - 1, -1)
    comparison = arguments.get("range_comparison")
    range_objs = arguments.get("range_objs")
    conditions = arguments.get("range_key_conditions") or []
    range_attribute = (
        conditions[-1][0]
        if conditions
        else next((a for a in buckets.key_attributes if a != buckets.attribute), None)
    )
    window: list[Item] = []
    matched = 0
    for position in positions:
        item = items[table_keys[position]]
        window.append(item)
        if start and (keys[position] <= at if forward else keys[position] >= at):
            continue  # at or before the start key: moto skips it, uncounted
        if limit is not None and matched >= limit:
            break  # the item after the last one the page can hold
        if comparison:
            found = item.attrs.get(range_attribute) if range_attribute else None
            if found and found.compare(comparison, range_objs):
                matched += 1
        else:
            matched += 1
    return window


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    original: Callable[..., Any] = _originals["query"]
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    with DYNAMODB_LOCK:
        candidates = None if _moto_queries else _candidates(self, bound.arguments)
        if candidates is None:
            return original(self, *args, **kwargs)
        # moto's query reads `self.all_items()`: shadow it on this instance for this call.
        self.__dict__["all_items"] = lambda: candidates
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.__dict__["all_items"]


def _put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
    with DYNAMODB_LOCK:
        item: Item = _originals["put_item"](self, *args, **kwargs)
        _reindex(self, item.hash_key, item.range_key)
        return item


def _delete_item(self: Table, hash_key: Any, range_key: Any) -> Item | None:
    with DYNAMODB_LOCK:
        item: Item | None = _originals["delete_item"](self, hash_key, range_key)
        _reindex(self, hash_key, range_key)
        return item


def _update_item(
    self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
) -> Item:
    # moto updates the stored item in place: its index buckets are fixed up afterwards, even
    # when the update fails halfway.
    with DYNAMODB_LOCK:
        try:
            item: Item = _originals["update_item"](self, table_name, key, *args, **kwargs)
            return item
        finally:
            table = self.tables.get(table_name)  # None for a missing table: moto raised
            if table is not None and table.hash_key_attr in key:
                range_key = (
                    DynamoType(key[table.range_key_attr])
                    if table.range_key_attr and table.range_key_attr in key
                    else None
                )
                _reindex(table, DynamoType(key[table.hash_key_attr]), range_key)


# ---------------------------------------------------------------------- UpdateExpression
@functools.lru_cache(maxsize=UPDATE_EXPRESSIONS_KEPT)
def _update_expression_tree(expression: str) -> Any:
    return _originals["update_expression"].__func__(UpdateExpressionParser, expression)


def _parsed_update_expression(cls: type, expression_str: str) -> Any:
    """moto's parse of an UpdateExpression, once per distinct expression (see 18)."""
    return _update_expression_tree(expression_str)


# ---------------------------------------------------------------------- SQS deletes
# Every receipt handle moto handed out, with its message (see 19): held weakly, so a deleted
# or expired message goes as before.
_receipts: weakref.WeakValueDictionary[str, SqsMessage] = weakref.WeakValueDictionary()


def _mark_received(self: SqsMessage, visibility_timeout: int | None = None) -> None:
    _originals["mark_received"](self, visibility_timeout)
    _receipts[str(self.receipt_handle)] = self


def _visible_messages(self: SqsQueue) -> list[SqsMessage]:
    """moto's Queue.messages: those visible (`Message.visible`) and not delayed
    (`Message.delayed`), both read against one clock reading."""
    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _indexed(queue: SqsQueue, receipt_handle: str) -> SqsMessage | None:
    """The message of `queue` given `receipt_handle`, found through the index; None when the
    index does not know the handle or its message has left the queue."""
    message = _receipts.get(receipt_handle)
    # `in` compares by identity (a Message has no __eq__), in C: no lists of handles.
    if message is not None and message.had_receipt_handle(receipt_handle):
        return message if message in queue._messages else None
    return None


def message_with_receipt(queue: SqsQueue, receipt_handle: str) -> SqsMessage | None:
    """The message of `queue` that was ever given `receipt_handle`, or None."""
    found = _indexed(queue, receipt_handle)
    if found is not None:
        return found
    return next((m for m in queue._messages if m.had_receipt_handle(receipt_handle)), None)


def _delete_message(self: SqsQueue, receipt_handle: str) -> None:
    """moto's Queue.delete_message, finding the message by its handle. Every caller holds the
    queue's lock (moto_fidelity); the list is rebuilt under the lock moto appends under too,
    so a message moved in from another queue meanwhile (a dead-letter queue's) is kept."""
    with self._messages_lock:
        message = (
            None if receipt_handle in self.deleted_messages else _indexed(self, receipt_handle)
        )
        if message is None:
            _originals["delete_message"](self, receipt_handle)  # moto's walk, and its answer
            return
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
        messages = self._messages
        at = messages.index(message)
        self._messages = messages[:at] + messages[at + 1 :]  # a new list, as moto makes one


# ---------------------------------------------------------------------- UpdateExpression checks
_SHAPE_CHECKS = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
# Shapes that passed them (see 20): (tree, names, key attributes), the oldest forgotten first.
_shapes_passed: collections.OrderedDict[tuple[Any, ...], None] = collections.OrderedDict()
_shapes_lock = threading.Lock()


def _validator_init(
    self: Any,
    expression: Any,
    expression_attribute_names: dict[str, str],
    expression_attribute_values: dict[str, Any],
    item: Item,
    table: Table,
) -> None:
    # The tree is the one kept per expression (18): its identity stands for the expression.
    names = tuple(sorted((expression_attribute_names or {}).items()))
    self._shape = (expression, names, tuple(table.table_key_attrs))
    Validator.__init__(
        self, expression, expression_attribute_names, expression_attribute_values, item, table
    )


def _update_processors(self: Any) -> list[Any]:
    processors: list[Any] = _originals["update_processors"](self)
    with _shapes_lock:
        passed = self._shape in _shapes_passed
    return [p for p in processors if not isinstance(p, _SHAPE_CHECKS)] if passed else processors


def _validate_update(self: Any) -> Any:
    validated = Validator.validate(self)
    with _shapes_lock:  # every pass passed, the shape's among them
        _shapes_passed[self._shape] = None
        _shapes_passed.move_to_end(self._shape)
        while len(_shapes_passed) > 4 * UPDATE_EXPRESSIONS_KEPT:
            _shapes_passed.popitem(last=False)
    return validated


_handled_types: dict[type, tuple[type, ...]] = {}


def _nodes_to_be_processed(self: Any) -> tuple[type, ...]:
    """moto's, listed once per class: its map's keys are classes, the same for each instance."""
    handled = _handled_types.get(type(self))
    if handled is None:
        handled = _handled_types[type(self)] = _originals["nodes_to_be_processed"](self)
    return handled


# ---------------------------------------------------------------------- Step Functions
_programs: collections.OrderedDict[str, Any] = collections.OrderedDict()
_programs_lock = threading.Lock()


def _retained(self: SQSBackend, queue_name: str, message: SqsMessage) -> bool:
    """moto's retention check, reading the queue's retention period alone."""
    period = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009
    return bool(period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


_TRANSACT_OPS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


def _transact_key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems (same checks, same errors), conditions first, writes after."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (op type, op, key)
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        original_item: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in _TRANSACT_OPS:
                raise ValueError("Unsupported transaction operation")
            key = _transact_key(self, op_type, op)
            target = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            planned.append((op_type, op, key))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))
        except Exception as error:  # moto records any other refusal as the item's reason
            errors.append((type(error).__name__, str(error), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    # Every condition holds: write. What stood before each write is kept, to undo them all
    # should moto refuse one (a malformed update expression).
    before: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    try:
        for index, (op_type, op, key) in enumerate(planned):
            current = self.get_item(op["TableName"], key)
            before.append(
                (op["TableName"], key, current.to_json()["Attributes"] if current else None)
            )
            try:
                if op_type == "Put":
                    self.put_item(
                        op["TableName"],
                        op["Item"],
                        expression_attribute_names=op.get("ExpressionAttributeNames"),
                        expression_attribute_values=op.get("ExpressionAttributeValues"),
                    )
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key)
                elif op_type == "Update":
                    self.update_item(
                        op["TableName"],
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=op.get("ExpressionAttributeNames") or {},
                        expression_attribute_values=op.get("ExpressionAttributeValues") or {},
                    )
            except MockValidationException:
                raise
            except Exception as error:
                errors[index] = (type(error).__name__, str(error), None)
                raise TransactionCanceledException(errors) from None
    except Exception:
        for table_name, key, attributes in reversed(before):
            if attributes is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise


def _entrypoint(self: ExecutionWorker) -> Any:
    definition: str = self._evaluation_details.state_machine_details.definition
    with _programs_lock:
        program = _programs.get(definition)
        if program is not None:
            _programs.move_to_end(definition)
            return program
    program = AmazonStateLanguageParser.parse(definition)[0]
    with _programs_lock:
        _programs[definition] = program
        while len(_programs) > PROGRAM_CACHE_SIZE:
            _programs.popitem(last=False)
    return program


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
_replaced_clients: list[tuple[Any, Any]] = []
# service -> what wraps the shared client of tasks of that service (see lambda_seam)
_task_client_wrappers: dict[str, Callable[[Any], Any]] = {}


def _client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    # What the original's client depends on: the credentials it is given are not used.
    key = (region, service, botocore_stubber.enabled, moto_server_port())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = boto_client.boto_client_for(region, service)
            wrap = _task_client_wrappers.get(service)
            client = _clients[key] = wrap(client) if wrap else client
        return client


def use_task_client(service: str, wrap: Callable[[Any], Any] | None) -> None:
    """Tasks of `service` get their shared client wrapped by `wrap` (None: as boto3 makes it)."""
    with _clients_lock:
        if wrap is None:
            _task_client_wrappers.pop(service, None)
        else:
            _task_client_wrappers[service] = wrap
        for key in [key for key in _clients if key[1] == service]:
            del _clients[key]


def _share_boto_clients() -> None:
    # Task modules import `boto_client_for` by name: replace it where it was imported.
    import moto.stepfunctions.parser.asl.parse.preprocessor  # noqa: F401 (loads every task)

    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.stepfunctions.parser") or module is boto_client:
            continue
        if getattr(module, "boto_client_for", None) is boto_client.boto_client_for:
            _replaced_clients.append((module, boto_client.boto_client_for))
            module.boto_client_for = _client_for  # type: ignore[attr-defined]


_executions_lock = threading.Lock()


def _start_execution(self: StepFunctionsParserBackend, *args: Any, **kwargs: Any) -> Any:
    with _executions_lock:  # no append may race the trim below
        execution = _originals["start_execution"](self, *args, **kwargs)
        for machine in self.state_machines:
            _trim_executions(machine)
        # moto keeps every thread it starts in this list; the finished ones are of no use.
        TMP_THREADS[:] = [t for t in TMP_THREADS if t.is_alive()]
    return execution


def _trim_executions(machine: Any) -> None:
    executions: list[Any] = machine.executions
    if len(executions) <= KEEP_FINISHED_EXECUTIONS * 5 // 4:  # trim in batches, not each time
        return
    finished = [e for e in executions if e.status != "RUNNING"]
    dropped = {id(e) for e in finished[: len(finished) - KEEP_FINISHED_EXECUTIONS]}
    # A new list, not an edit: other threads may be iterating over the old one.
    machine.executions = [e for e in executions if id(e) not in dropped]


# ---------------------------------------------------------------------- DynamoDB Streams
_clock = time.monotonic  # tests move it
_issued: dict[int, collections.deque[tuple[float, str]]] = {}  # per backend: (time, arn)


def _remember(backend: DynamoDBStreamsBackend, arn: str) -> None:
    issued = _issued.setdefault(id(backend), collections.deque())
    now = _clock()
    issued.append((now, arn))
    while issued and (
        issued[0][0] < now - SHARD_ITERATOR_SECONDS or len(issued) > MAX_SHARD_ITERATORS
    ):
        backend.shard_iterators.pop(issued.popleft()[1], None)


def _get_shard_iterator(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> Any:
    with DYNAMODB_LOCK:
        iterator = _originals["get_shard_iterator"](self, *args, **kwargs)
        _remember(self, iterator.arn)
        return iterator


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
    with DYNAMODB_LOCK:
        result: dict[str, Any] = _originals["get_records"](self, iterator_arn, limit)
        _remember(self, result["NextShardIterator"])
        return result


def _get_records_response(self: DynamoDBStreamsHandler) -> Any:
    if _moto_queries:  # moto's own serializer, to compare answers with
        return _originals["get_records_response"](self)
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), limit or 1000)
    return json.dumps(result, default=_wire_timestamp, separators=(",", ":"))


def _wire_timestamp(value: Any) -> int | float:
    """A record's ApproximateCreationDateTime as moto's JSON serializer writes a timestamp:
    epoch seconds, with milliseconds when it has any."""
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"{type(value).__name__} is not JSON")
    seconds = calendar.timegm(value.timetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


# Answers whose moto result is their wire form (see 11); for the others moto keeps its own.
_ITEM_ANSWERS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
        "ExecuteStatement",
    }
)


def _dynamodb_answer(self: DynamoResult, context: ActionContext) -> Any:
    operation = context.operation_model.name
    if _moto_queries or operation not in _ITEM_ANSWERS:  # moto's own, to compare answers with
        return ActionResult.execute_result(self, context)
    result, members = self.result, context.operation_model.output_shape.members
    if isinstance(result, dict):  # moto adds a few members the API has not (the serializer drops)
        result = {k: v for k, v in result.items() if k in members and v is not None}
    body = json.dumps(result, default=wire_value, separators=(",", ":"))
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, body


@contextlib.contextmanager
def compared_answers() -> Iterator[list[tuple[str, Any, Any]]]:
    """Within this block every DynamoDB answer is also written by moto's serializer; the list
    collects (operation, ours, moto's) for each that differs (tests check it stays empty)."""
    differences: list[tuple[str, Any, Any]] = []

    def both(self: DynamoResult, context: ActionContext) -> Any:
        ours = _dynamodb_answer(self, context)
        ours = (ours[0], dict(ours[1]), ours[2])  # the caller adds its own headers to these
        theirs = ActionResult.execute_result(self, context)
        if (ours[0], ours[1], json.loads(ours[2])) != (
            theirs[0],
            theirs[1],
            json.loads(theirs[2]),
        ):
            differences.append((context.operation_model.name, ours, theirs))
        return ours

    DynamoResult.execute_result = both  # type: ignore[method-assign,assignment]
    try:
        yield differences
    finally:
        DynamoResult.execute_result = _dynamodb_answer  # type: ignore[method-assign,assignment]


def wire_value(value: Any) -> Any:
    """A value of moto's (a result, or a request as it parsed it) that is not JSON, as the
    wire has it: a binary attribute base64, a timestamp as epoch seconds."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return _wire_timestamp(value)


class _QueueAttributes(collections.abc.Mapping[str, Any]):
    """What moto's `Queue.attributes` answers (the same names, in the same order, with the
    same values), each value computed when it is read."""

    def __init__(self, queue: SqsQueue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        if name == "RedrivePolicy" and queue.redrive_policy:
            return json.dumps(queue.redrive_policy)
        value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without computing it

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def wait_for_queue_messages(queue_arn: str, timeout: float) -> bool | None:
    """Wait until the standard queue holds a message a receive would hand out (visible, not
    delayed), for up to `timeout` seconds: whether it does. None when that cannot be told here
    (moto_speed is off, or the queue is FIFO or not in this process's moto): poll instead.
    A message that becomes visible again, or whose delay ends, wakes no one: it is seen when
    the wait times out, as moto's own long poll sees it."""
    if not _installed:
        return None
    _arn, _aws, _sqs, region, account, name = queue_arn.split(":", 5)
    queue = sqs_backends[account][region].queues.get(name)
    if queue is None or queue.fifo_queue:
        return None
    condition: threading.Condition = queue._messages_lock

    def receivable() -> bool:
        return any(m.visible and not m.delayed for m in queue._messages)

    with condition:
        return condition.wait_for(receivable, timeout=max(0.0, timeout))


_stream_written = threading.Condition()
_stream_writes: dict[str, int] = collections.defaultdict(int)  # table: records added, ever
# table: {reader: the sequence number it has delivered up to, or -1 before its first}
_readers: dict[str, dict[str, int]] = collections.defaultdict(dict)


def table_of(stream_arn: str) -> str:
    """The table a stream belongs to (arn:aws:dynamodb:...:table/NAME/stream/LABEL)."""
    return stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]


def stream_writes(table: str) -> int | None:
    """How many stream records moto has added to `table`'s stream so far (None: moto as it
    is, not counted)."""
    return _stream_writes[table] if _installed else None


def wait_for_stream_writes(
    table: str, seen: int | None, timeout: float, stop: threading.Event
) -> None:
    """Until a record is added to `table`'s stream after `seen` was read, `timeout` passes or
    `stop` is set; without the count (moto as it is), a fifth of a second. Only the table's
    own writes wake its readers: woken by any table's, the pollers made ~30 GetRecords a
    checkout, most of them empty."""
    if seen is None:
        stop.wait(0.2)
        return
    deadline = time.monotonic() + timeout
    with _stream_written:
        while _stream_writes[table] == seen and not stop.is_set():
            left = min(deadline - time.monotonic(), 0.25)  # and look at `stop` now and then
            if left <= 0:
                return
            _stream_written.wait(left)


def reading_stream(table: str, reader: str) -> None:
    """`reader` (a stream poller) reads `table`'s stream from now on: records it has not
    delivered are kept for it (see `delivered_from_stream`)."""
    with DYNAMODB_LOCK:
        _readers[table].setdefault(reader, -1)


def delivered_from_stream(table: str, reader: str, sequence_number: str) -> None:
    """`reader` has delivered every record of `table`'s stream up to `sequence_number`."""
    with DYNAMODB_LOCK:
        _readers[table][reader] = max(_readers[table].get(reader, -1), int(sequence_number))


def stopped_reading_stream(table: str, reader: str) -> None:
    with DYNAMODB_LOCK:
        _readers[table].pop(reader, None)


def _stream_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    _originals["stream_add"](self, old, new)
    table = self.table.name
    if self.items:
        # moto draws a random eventID; one derived from the table and the sequence number is
        # as unique, and the same when a restart replays the write (consumers key on it).
        record = self.items[-1].record
        name = f"{table}:{record['dynamodb']['SequenceNumber']}"
        record["eventID"] = hashlib.sha256(name.encode()).hexdigest()[:32]
    with _stream_written:  # the record is complete: wake the pollers
        _stream_writes[table] += 1
        _stream_written.notify_all()
    excess = len(self.items) - KEEP_STREAM_RECORDS
    readers = _readers.get(table)
    if readers:  # what every reader has delivered, but the last few (a repeated read)
        read = min(readers.values()) - self.starting_sequence_number + 1
        excess = max(excess, min(read, len(self.items)) - KEEP_READ_STREAM_RECORDS)
    if excess > 0:
        # moto numbers a record `starting_sequence_number + its position`: move the start.
        del self.items[:excess]
        self.starting_sequence_number += excess


def _stream_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = _originals["stream_get"](
        self, max(start, self.starting_sequence_number), quantity
    )
    return records


# ---------------------------------------------------------------------- model instances
class _WeakInstances:
    """A model class's `instances_tracked`, holding its instances weakly (see 13): appended to
    and iterated as moto does with the list."""

    def __init__(self, instances: Iterable[Any] = ()) -> None:
        self._lock = threading.Lock()
        self._refs: list[weakref.ref[Any]] = []
        self._strong: list[Any] = []  # an instance that cannot be weakly referenced
        self._prune_at = 64
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        with self._lock:
            try:
                self._refs.append(weakref.ref(instance))
            except TypeError:
                self._strong.append(instance)
                return
            if len(self._refs) >= self._prune_at:  # drop the dead ones, now and then
                self._refs = [ref for ref in self._refs if ref() is not None]
                self._prune_at = max(64, 2 * len(self._refs))

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            refs, strong = list(self._refs), list(self._strong)
        yield from strong
        for ref in refs:
            instance = ref()
            if instance is not None:
                yield instance

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _new_model(cls: type, *args: Any, **kwargs: Any) -> Any:
    instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, _WeakInstances):  # moto's list, or one its reset put back
        tracked = _WeakInstances(tracked or [])
        cls.instances_tracked = tracked  # type: ignore[attr-defined]
    tracked.append(instance)
    return instance


# ---------------------------------------------------------------------- per request
@functools.cache
def _method_names(clazz: type) -> list[str]:
    return method_names_from_class(clazz)


def _random_string(
    self: MotoRandom, length: int = 20, include_digits: bool = True, lower_case: bool = False
) -> str:
    pool = string.ascii_letters + (string.digits if include_digits else "")
    drawn = "".join(self.choices(pool, k=length))
    return drawn.lower() if lower_case else drawn


UNCHECKED_SIGNATURE = "0" * 64  # a SigV4 signature's length; moto reads the scope, not this
_moto_origins: set[str] = set()  # "http://host:port/" of the moto servers of this process


def _add_auth(self: botocore.auth.SigV4Auth, request: Any) -> None:
    url = str(request.url)
    if type(self) is not botocore.auth.SigV4Auth or not any(
        url.startswith(origin) for origin in _moto_origins
    ):
        _originals["add_auth"](self, request)
        return
    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = botocore.auth.get_current_datetime().strftime(
        botocore.auth.SIGV4_TIMESTAMP
    )
    self._modify_request_before_signing(request)  # the date and token headers, as signed
    self._inject_signature_to_request(request, UNCHECKED_SIGNATURE)


_PLAIN_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*)\r?\n\Z")


def _parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    if lines[-1] not in (b"\r\n", b"\n"):
        return http.client._parse_header_lines(lines, _class)  # type: ignore[attr-defined]
    headers: list[tuple[str, str]] = []
    for line in lines[:-1]:
        plain = _PLAIN_HEADER.match(line.decode("iso-8859-1"))
        if plain is None:
            return http.client._parse_header_lines(lines, _class)  # type: ignore[attr-defined]
        headers.append((plain[1], plain[2]))
    message = _class()
    message._headers = headers  # type: ignore[attr-defined]
    message._payload = ""  # type: ignore[attr-defined]  # the parser's: nothing after them
    return message


# ---------------------------------------------------------------------- moto's HTTP server
class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler with HTTP/1.1 keep-alive. Werkzeug's development server answers
    every request with `Connection: close`, so each boto3 request opened a TCP connection and
    the server started a thread for it (a checkout makes ~140 requests). Here a connection
    serves request after request on one thread. Werkzeug closes because it cannot tell a body
    the application left unread from the next request (after each answer it reads whatever
    the socket holds): here the body is read in full before the application runs, and that
    drain reads nothing. A request without a Content-Length still closes its connection."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: on a kept connection Nagle's algorithm
    # would hold the body back for the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True
    _keep_alive = False
    _socket_reader: Any = None

    def make_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().make_environ()
        length = self.headers.get("Content-Length", "0" if self.command == "GET" else None)
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "")
        self._keep_alive = length is not None and length.isdigit() and not chunked
        if self._keep_alive:
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length or 0)))
            self._socket_reader, self.rfile = self.rfile, io.BytesIO()  # see run_wsgi
        return environ

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            if self._socket_reader is not None:  # the next request is read from the socket
                self.rfile, self._socket_reader = self._socket_reader, None

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self._keep_alive:
            return  # werkzeug's blanket close: this connection is safe to keep
        super().send_header(keyword, value)


class MotoServer:
    """moto's server on a thread of this process, as `ThreadedMotoServer` runs it, with
    `KeepAliveRequestHandler` (`SHOP_MOTO_SPEED=0`: moto's own handler)."""

    def __init__(self, ip_address: str, port: int) -> None:
        handler = (
            MotoRequestHandler
            if os.environ.get("SHOP_MOTO_SPEED") == "0"
            else KeepAliveRequestHandler
        )
        self._server = make_server(
            ip_address,
            port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=handler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._origin = f"http://{self._server.host}:{self._server.port}/"
        _moto_origins.add(self._origin)
        self._thread.start()

    def stop(self) -> None:
        _moto_origins.discard(self._origin)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
