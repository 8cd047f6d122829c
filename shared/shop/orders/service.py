"""Orders: created PENDING by the saga, then PLACED or CANCELLED, each change appended to the
order's history under a condition on its current status (so a retried step changes nothing)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shop import aws
from shop.clock import iso_now
from shop.config import orders_table
from shop.dynamo import error_code, from_item, read_item, to_item
from shop.errors import Conflict, NotFound
from shop.orders.models import HistoryEntry, Order, OrderLine, ShippingAddress
from shop.pagination import decode_cursor, encode_cursor

_USER_INDEX_KEYS = frozenset({"pk", "user_id", "created_at"})


def order_id_for(checkout_id: str) -> str:
    return f"ord-{checkout_id.removeprefix('co-')}"


def _key(order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_id}"}}


def _order(item: dict[str, Any]) -> Order:
    # Order ignores the storage-only attributes (pk, correlation_id).
    return Order.model_validate(from_item(item))


def create_pending(
    checkout_id: str,
    user_id: str,
    lines: list[OrderLine],
    total: Any,
    shipping_address: ShippingAddress,
    correlation_id: str,
) -> Order:
    now = iso_now()
    order = Order(
        order_id=order_id_for(checkout_id),
        checkout_id=checkout_id,
        user_id=user_id,
        status="PENDING",
        lines=lines,
        total=total,
        shipping_address=shipping_address,
        history=[HistoryEntry(status="PENDING", at=now, note="checkout started")],
        created_at=now,
        updated_at=now,
    )
    item = order.model_dump()
    item.update(pk=f"ORDER#{order.order_id}", correlation_id=correlation_id)
    try:
        aws.client("dynamodb").put_item(
            TableName=orders_table(),
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        return get_order(order.order_id)  # created by an earlier attempt of this step
    return order


def get_order(order_id: str, *, owner: str | None = None) -> Order:
    item = read_item(orders_table(), _key(order_id))
    if item is None:
        raise NotFound(f"no order {order_id}", code="ORDER_NOT_FOUND")
    order = Order.model_validate(item)
    if owner is not None and order.user_id != owner:
        raise NotFound(f"no order {order_id}", code="ORDER_NOT_FOUND")  # never reveal others'
    return order


def _transition(order_id: str, to: str, allowed_from: tuple[str, ...], note: str) -> Order:
    current = get_order(order_id)
    if current.status == to:
        return current
    if current.status not in allowed_from:
        raise Conflict(f"order {order_id} is {current.status}", code="ORDER_STATE")
    try:
        aws.client("dynamodb").update_item(
            TableName=orders_table(),
            Key=_key(order_id),
            UpdateExpression="SET #s = :to, updated_at = :now, history = list_append(history, :h)",
            ConditionExpression="#s = :from",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_item(
                {
                    ":to": to,
                    ":from": current.status,
                    ":now": iso_now(),
                    ":h": [{"status": to, "at": iso_now(), "note": note}],
                }
            ),
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
    return get_order(order_id)


def mark_placed(order_id: str) -> Order:
    return _transition(order_id, "PLACED", ("PENDING",), "payment captured, stock committed")


def cancel(order_id: str, reason: str) -> Order | None:
    try:
        return _transition(order_id, "CANCELLED", ("PENDING", "PLACED"), reason)
    except NotFound:
        return None  # the saga failed before the order existed


def list_orders(user_id: str, cursor: str | None, limit: int) -> tuple[list[Order], str | None]:
    query: dict[str, Any] = {
        "TableName": orders_table(),
        "IndexName": "UserOrdersIndex",
        "KeyConditionExpression": "user_id = :u",
        "ExpressionAttributeValues": {":u": {"S": user_id}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    start = decode_cursor(cursor, expected_keys=_USER_INDEX_KEYS)
    if start:
        if start["user_id"] != user_id:
            raise Conflict("the cursor belongs to another listing", code="BAD_CURSOR")
        query["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
    response = aws.client("dynamodb").query(**query)
    last = response.get("LastEvaluatedKey")
    return (
        [_order(item) for item in response.get("Items", [])],
        encode_cursor({k: v["S"] for k, v in last.items()} if last else None),
    )
