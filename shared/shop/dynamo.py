"""Small helpers around DynamoDB's low-level client: typed items in and out, and the
cancellation reasons of a failed transaction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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


def read_item(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    """One item by key, strongly consistent (a step deciding what to do next must see the
    latest write), as plain Python values; None when absent."""
    from shop import aws

    response = aws.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
    return from_item(response["Item"]) if "Item" in response else None


def transact(writes: list[dict[str, Any]], *, table: str | None = None) -> list[str] | None:
    """Run a TransactWriteItems: None when it committed, else one cancellation code per item
    (callers decide which failed condition means what). `table` fills in every TableName."""
    from shop import aws

    if table is not None:
        for write in writes:
            next(iter(write.values()))["TableName"] = table
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=writes)
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
