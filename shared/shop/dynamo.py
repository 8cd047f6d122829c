"""The shop's DynamoDB primitives, over the low-level client: typed items in and out, reads,
conditional writes, paginated queries, batches and transactions. Repositories build keys and
expressions; this module is the one place that knows how DynamoDB answers them (a failed
condition, a page's LastEvaluatedKey, a batch's UnprocessedItems, a cancelled transaction).

Items and expression values go in and come out as plain Python values; keys and start keys
are in DynamoDB's typed form ({"pk": {"S": ...}}), as repositories build them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shop.errors import ShopError, Throttled

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

_BATCH_WRITE_LIMIT = 25  # BatchWriteItem's own limit
_BATCH_GET_LIMIT = 100  # BatchGetItem's
TRANSACTION_ITEM_LIMIT = 100  # TransactWriteItems' actions
_BATCH_ATTEMPTS = 8  # then Throttled: the table is refusing writes for seconds on end
_BACKOFF_SECONDS, _BACKOFF_CAP_SECONDS = 0.05, 2.0


def _client() -> Any:
    from shop import aws

    return aws.client("dynamodb")


def _expression(
    condition: str | None, names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, Any]:
    """The optional parts of a request or a transaction's write (values plain)."""
    parts: dict[str, Any] = {}
    if condition is not None:
        parts["ConditionExpression"] = condition
    if names:
        parts["ExpressionAttributeNames"] = names
    if values:
        parts["ExpressionAttributeValues"] = to_item(values)
    return parts


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the shop only stores integers."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_item(table: str, key: dict[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
    """One item by key, as plain Python values; None when absent. Strongly consistent unless
    told otherwise (a step deciding what to do next must see the latest write)."""
    response = _client().get_item(TableName=table, Key=key, ConsistentRead=consistent)
    return from_item(response["Item"]) if "Item" in response else None


def put_new(table: str, item: dict[str, Any], *, taken: ShopError | None = None) -> bool:
    """Write `item` (plain values) unless an item with its key exists: True when it was
    written; when the key was taken, raises `taken` if given, else False (for an id derived
    from what happened, a repeat)."""
    try:
        _client().put_item(
            TableName=table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return True
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        if taken is not None:
            raise taken from None
        return False


def update_if(
    table: str,
    key: dict[str, Any],
    update: str,
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    refused: ShopError | None = None,
    current_if_refused: bool = False,
) -> dict[str, Any] | None:
    """An UpdateItem, if `condition` holds (always, without one): the item as it is after the
    update. When the condition fails: raises `refused` if given; else, with
    `current_if_refused`, the item as it stood (DynamoDB returns it with the refusal, so no
    second read), or None when there is none; else None."""
    request: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": update,
        "ReturnValues": "ALL_NEW",
        **_expression(condition, names, values),
    }
    if current_if_refused:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    try:
        return from_item(_client().update_item(**request)["Attributes"])
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        if refused is not None:
            raise refused from None
        current = error.response.get("Item") if current_if_refused else None
        return from_item(current) if current else None


def delete_if(
    table: str, key: dict[str, Any], *, condition: str, values: dict[str, Any] | None = None
) -> bool:
    """A DeleteItem if `condition` holds: whether it deleted."""
    try:
        _client().delete_item(TableName=table, Key=key, **_expression(condition, None, values))
        return True
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        return False


def delete_item(table: str, key: dict[str, Any]) -> None:
    _client().delete_item(TableName=table, Key=key)


def query_page(
    table: str,
    key_condition: str,
    values: dict[str, Any],
    *,
    index: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
    newest_first: bool = False,
    limit: int | None = None,
    start: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a Query from `start`: its items (plain) and the key to continue from
    (typed, None after the last page). `newest_first` reads the sort key descending."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": key_condition,
        **_expression(None, names, values),
    }
    if index is not None:
        request["IndexName"] = index
    if consistent:
        request["ConsistentRead"] = True
    if newest_first:
        request["ScanIndexForward"] = False
    if limit is not None:
        request["Limit"] = limit
    if start:
        request["ExclusiveStartKey"] = start
    response = _client().query(**request)
    return [from_item(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")


def query_all(
    table: str,
    key_condition: str,
    values: dict[str, Any],
    *,
    index: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, page after page (a page stops at 1 MB, or at `page_size`
    items), read as the caller iterates."""
    start: dict[str, Any] | None = None
    while True:
        items, start = query_page(
            table,
            key_condition,
            values,
            index=index,
            names=names,
            consistent=consistent,
            limit=page_size,
            start=start,
        )
        yield from items
        if start is None:
            return


def scan_all(table: str, *, page_size: int = 500) -> Iterator[dict[str, Any]]:
    """Every item of the table, strongly consistent, page after page: for offline checks,
    never a request path (a Scan of a busy table is no snapshot either)."""
    start: dict[str, Any] | None = None
    while True:
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True, "Limit": page_size}
        if start:
            request["ExclusiveStartKey"] = start
        response = _client().scan(**request)
        yield from (from_item(item) for item in response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if start is None:
            return


def batch_get(
    table: str, keys: list[dict[str, Any]], *, consistent: bool = False
) -> list[dict[str, Any]]:
    """The items of `keys` (typed) that exist, plain, 100 keys to a BatchGetItem (eventually
    consistent unless told otherwise); what DynamoDB leaves unprocessed is asked again after
    a pause, as in `batch_write`."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        chunk = keys[start : start + _BATCH_GET_LIMIT]
        pending: dict[str, Any] = {table: {"Keys": chunk, "ConsistentRead": consistent}}
        for attempt in range(_BATCH_ATTEMPTS):
            response = _client().batch_get_item(RequestItems=pending)
            found += [from_item(item) for item in response.get("Responses", {}).get(table, [])]
            pending = response.get("UnprocessedKeys")
            if not pending:
                break
            if attempt + 1 < _BATCH_ATTEMPTS:
                _back_off(attempt)
        else:
            raise Throttled(f"DynamoDB kept refusing reads of {table}; retry")
    return found


def batch_write(table: str, items: Iterable[dict[str, Any]]) -> int:
    """Put `items` (plain values), unconditionally, 25 to a BatchWriteItem; what DynamoDB
    leaves unprocessed (throttling) is sent again after a growing, jittered pause. Returns how
    many were written; raises Throttled if some stay unprocessed after every attempt."""
    puts = [{"PutRequest": {"Item": to_item(item)}} for item in items]
    for start in range(0, len(puts), _BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: puts[start : start + _BATCH_WRITE_LIMIT]}
        for attempt in range(_BATCH_ATTEMPTS):
            pending = _client().batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not pending:
                break
            if attempt + 1 < _BATCH_ATTEMPTS:
                _back_off(attempt)
        else:
            raise Throttled(f"DynamoDB kept refusing writes to {table}; retry")
    return len(puts)


def _back_off(attempt: int) -> None:
    """Exponential backoff with jitter, so that writers refused together do not retry together."""
    ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_SECONDS * 2**attempt)
    time.sleep(random.uniform(ceiling / 2, ceiling))


# The writes of a transaction, for `transact` (which fills in the table): plain values in.
def put_write(
    item: dict[str, Any], *, condition: str | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"Put": {"Item": to_item(item), **_expression(condition, None, values)}}


def update_write(
    key: dict[str, Any],
    update: str,
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "Update": {"Key": key, "UpdateExpression": update, **_expression(condition, names, values)}
    }


def delete_write(
    key: dict[str, Any], *, condition: str | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"Delete": {"Key": key, **_expression(condition, None, values)}}


def transact(writes: list[dict[str, Any]], *, table: str | None = None) -> list[str] | None:
    """Run a TransactWriteItems: None when it committed, else one cancellation code per item
    (callers decide which failed condition means what). `table` fills in every TableName."""
    if table is not None:
        for write in writes:
            next(iter(write.values()))["TableName"] = table
    try:
        _client().transact_write_items(TransactItems=writes)
        return None
    except ClientError as error:
        if error_code(error) != "TransactionCanceledException":
            raise
        return cancellation_codes(error)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: ClientError) -> list[str]:
    """One code per transaction item ("None" where that item was not the cause)."""
    reasons = error.response.get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]
