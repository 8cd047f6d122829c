"""Inventory: stock levels, reservations and the ledger, in DynamoDB.

Every change is a conditional write or a transaction, and every change of a stock item writes
its ledger entry in the same transaction, so the ledger can re-derive the stock at any time.
Stock items keep `available` beside `on_hand` and `reserved` because a condition expression
cannot do arithmetic: `available >= :q` is the check that makes overselling impossible.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from shop import aws
from shop.clock import iso_now, now
from shop.config import inventory_table
from shop.dynamo import error_code, from_item, read_item, to_item, transact
from shop.errors import (
    Conflict,
    NotFound,
    OutOfStock,
    ReservationLapsed,
    Throttled,
    ValidationFailed,
)
from shop.inventory.allocation import Unavailable, merge_lines, plan, split_evenly
from shop.inventory.keys import (
    config_key,
    ledger_pk,
    reservation_key,
    stock_key,
    stock_pk,
    stock_sk,
)
from shop.inventory.models import (
    Allocation,
    Availability,
    Reservation,
    ReservationLine,
    ReserveRequest,
    StockLevel,
)

HELD = "HELD"
MAX_ATTEMPTS = 8  # optimistic retries when a concurrent change beat us to a stock item
_MAX_TRANSACTION_ITEMS = 100


def _client() -> Any:
    return aws.client("dynamodb")


# ----------------------------------------------------------------------------- reading stock
def shard_count(sku: str, *, consistent: bool = True) -> int:
    """How many stock partitions the SKU uses (1 unless an admin split it)."""
    item = (
        _client()
        .get_item(TableName=inventory_table(), Key=config_key(sku), ConsistentRead=consistent)
        .get("Item")
    )
    return int(item["shards"]["N"]) if item else 1


def _shard_levels(sku: str, shard: int, *, consistent: bool) -> list[StockLevel]:
    """The stock items of one shard partition (one per warehouse)."""
    response = _client().query(
        TableName=inventory_table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": stock_pk(sku, shard)}},
        ConsistentRead=consistent,
    )
    levels = []
    for item in response.get("Items", []):
        data = from_item(item)
        levels.append(
            StockLevel(
                sku=sku,
                warehouse_id=data["warehouse_id"],
                shard=data["shard"],
                on_hand=data["on_hand"],
                reserved=data["reserved"],
                available=data["available"],
            )
        )
    return levels


def stock_levels(sku: str, *, consistent: bool = True) -> list[StockLevel]:
    """Every stock item of the SKU: one Query per shard partition."""
    levels = []
    for shard in range(shard_count(sku, consistent=consistent)):
        levels += _shard_levels(sku, shard, consistent=consistent)
    return levels


def _levels_covering(sku: str, need: int) -> list[StockLevel]:
    """Enough of the SKU's stock items to cover `need`, read shard by shard from a random one:
    a hot SKU's reservation usually reads one partition, and reads them all only when the
    units are scattered or short (then the planner reports what all of them hold)."""
    count = shard_count(sku)
    start = random.randrange(count)
    levels: list[StockLevel] = []
    for i in range(count):
        levels += _shard_levels(sku, (start + i) % count, consistent=True)
        if sum(level.available for level in levels) >= need:
            break
    return levels


def _use_shards(sku: str, shards: int) -> None:
    """Record that the SKU now spans `shards` partitions (the count only grows: a warehouse
    with fewer shards leaves the others' partitions empty, which readers skip cheaply). Written
    before the stock itself, so readers never miss a shard that holds stock."""
    try:
        _client().update_item(
            TableName=inventory_table(),
            Key=config_key(sku),
            UpdateExpression="SET shards = :n",
            ConditionExpression="attribute_not_exists(shards) OR shards < :n",
            ExpressionAttributeValues={":n": {"N": str(shards)}},
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise


def availability(sku: str) -> Availability:
    """Public availability: an eventually consistent sum over warehouses and shards."""
    levels = stock_levels(sku, consistent=False)
    if not levels:
        raise NotFound(f"no stock is kept for {sku}", code="SKU_NOT_STOCKED")
    available = sum(level.available for level in levels)
    return Availability(sku=sku, available=available, in_stock=available > 0)


# ----------------------------------------------------------------------------- the ledger
def _ledger_entry(
    sku: str,
    warehouse_id: str,
    shard: int,
    movement: str,
    on_hand_delta: int,
    reserved_delta: int,
    reference: str,
) -> dict[str, Any]:
    at = iso_now()
    return {
        "Put": {
            "TableName": inventory_table(),
            "Item": to_item(
                {
                    "pk": ledger_pk(sku, shard),
                    "sk": f"{at}#{uuid.uuid4().hex}",
                    "sku": sku,
                    "warehouse_id": warehouse_id,
                    "shard": shard,
                    "movement": movement,
                    "on_hand_delta": on_hand_delta,
                    "reserved_delta": reserved_delta,
                    "reference": reference,
                    "at": at,
                }
            ),
        }
    }


def _transact(writes: list[dict[str, Any]]) -> list[str] | None:
    """Run a transaction; None when it committed, else the cancellation codes."""
    if len(writes) > _MAX_TRANSACTION_ITEMS:
        raise ValidationFailed("the change touches too many stock items at once")
    return transact(writes)


# ----------------------------------------------------------------------------- admin changes
def set_stock(
    sku: str, warehouse_id: str, quantity: int, *, shards: int | None = None, reference: str = ""
) -> list[StockLevel]:
    """Make a warehouse's on-hand stock of `sku` equal `quantity`, optionally split over
    `shards` items. What is reserved stays reserved; the available rest is spread evenly."""
    for _ in range(MAX_ATTEMPTS):
        current = [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
        by_shard = {lvl.shard: lvl for lvl in current}
        count = shards or max(len(current), 1)
        if count > 1:
            _use_shards(sku, count)
        reserved = sum(lvl.reserved for lvl in current)
        if quantity < reserved:
            raise Conflict(
                f"{reserved} units of {sku} are reserved in {warehouse_id}; cannot set {quantity}",
                code="BELOW_RESERVED",
                details={"reserved": reserved},
            )
        dropped = [lvl for lvl in current if lvl.shard >= count]
        if any(lvl.reserved for lvl in dropped):
            raise Conflict("shards being removed still hold reservations", code="SHARDS_IN_USE")
        kept_reserved = [by_shard[i].reserved if i in by_shard else 0 for i in range(count)]
        shares = split_evenly(quantity - reserved, count)
        total_delta = quantity - sum(lvl.on_hand for lvl in current)
        movement = "restock" if total_delta >= 0 else "adjustment"
        writes: list[dict[str, Any]] = []
        for shard in range(count):
            on_hand = kept_reserved[shard] + shares[shard]
            before = by_shard.get(shard)
            writes.append(
                _put_level(sku, warehouse_id, shard, on_hand, kept_reserved[shard], before)
            )
            delta = on_hand - (before.on_hand if before else 0)
            if delta:
                writes.append(
                    _ledger_entry(sku, warehouse_id, shard, movement, delta, 0, reference)
                )
        for lvl in dropped:
            writes.append(
                {
                    "Delete": {
                        "TableName": inventory_table(),
                        "Key": stock_key(sku, warehouse_id, lvl.shard),
                        "ConditionExpression": "on_hand = :old AND reserved = :zero",
                        "ExpressionAttributeValues": {
                            ":old": {"N": str(lvl.on_hand)},
                            ":zero": {"N": "0"},
                        },
                    }
                }
            )
            writes.append(
                _ledger_entry(sku, warehouse_id, lvl.shard, movement, -lvl.on_hand, 0, reference)
            )
        if _transact(writes) is None:
            return [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
    raise Throttled(f"stock of {sku} is changing too fast; retry")


def _put_level(
    sku: str, warehouse_id: str, shard: int, on_hand: int, reserved: int, before: StockLevel | None
) -> dict[str, Any]:
    put: dict[str, Any] = {
        "TableName": inventory_table(),
        "Item": to_item(
            {
                "pk": stock_pk(sku, shard),
                "sk": stock_sk(warehouse_id),
                "sku": sku,
                "warehouse_id": warehouse_id,
                "shard": shard,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved,
            }
        ),
    }
    if before is None:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:  # optimistic: nobody reserved or moved stock since we read it
        put["ConditionExpression"] = "on_hand = :on_hand AND reserved = :reserved"
        put["ExpressionAttributeValues"] = {
            ":on_hand": {"N": str(before.on_hand)},
            ":reserved": {"N": str(before.reserved)},
        }
    return {"Put": put}


def adjust_stock(sku: str, warehouse_id: str, delta: int, reason: str) -> list[StockLevel]:
    """Add `delta` (negative for damage or a recount) to one stock item that can take it."""
    levels = sorted(
        (lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id),
        key=lambda lvl: -lvl.available,
    )
    if not levels:
        raise NotFound(f"{warehouse_id} keeps no stock of {sku}", code="SKU_NOT_STOCKED")
    for level in levels:
        update = {
            "Update": {
                "TableName": inventory_table(),
                "Key": stock_key(sku, warehouse_id, level.shard),
                "UpdateExpression": "SET on_hand = on_hand + :d, available = available + :d",
                "ConditionExpression": "available >= :need",
                "ExpressionAttributeValues": {
                    ":d": {"N": str(delta)},
                    ":need": {"N": str(max(0, -delta))},
                },
            }
        }
        ledger = _ledger_entry(sku, warehouse_id, level.shard, "adjustment", delta, 0, reason)
        if _transact([update, ledger]) is None:
            return [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
    raise Conflict(
        f"no stock item of {sku} in {warehouse_id} has {-delta} units available to remove",
        code="INSUFFICIENT_STOCK",
    )


# ----------------------------------------------------------------------------- reservations
def get_reservation(checkout_id: str) -> Reservation | None:
    data = read_item(inventory_table(), reservation_key(checkout_id))
    return None if data is None else Reservation.model_validate(data)


def reserve(request: ReserveRequest) -> Reservation:
    """Hold stock for every line of a checkout, all or nothing; repeating it is harmless."""
    lines = merge_lines(request.lines)
    for _ in range(MAX_ATTEMPTS):
        existing = get_reservation(request.checkout_id)
        if existing is not None:
            return _same_request(existing, lines)
        stock = {line.sku: _levels_covering(line.sku, line.quantity) for line in lines}
        try:
            allocations = plan(lines, stock)
        except Unavailable as short:
            raise OutOfStock(
                f"only {short.available} of {short.sku} available, {short.requested} requested",
                details={
                    "sku": short.sku,
                    "requested": short.requested,
                    "available": short.available,
                },
            ) from None
        reservation = Reservation(
            checkout_id=request.checkout_id,
            status="HELD",
            lines=lines,
            allocations=allocations,
            expires_at=math.ceil(now() + request.hold_seconds),
            created_at=iso_now(),
            updated_at=iso_now(),
        )
        writes = [_put_reservation(reservation)]
        for a in allocations:
            writes.append(
                _move(
                    a, "SET reserved = reserved + :q, available = available - :q", "available >= :q"
                )
            )
            writes.append(
                _ledger_entry(
                    a.sku, a.warehouse_id, a.shard, "reserve", 0, a.quantity, request.checkout_id
                )
            )
        codes = _transact(writes)
        if codes is None:
            return reservation
        # Another request for this checkout won, or stock moved under us: read again.
    raise Throttled("stock is changing too fast; retry the reservation")


def _same_request(existing: Reservation, lines: list[ReservationLine]) -> Reservation:
    if existing.status in ("RELEASED", "EXPIRED"):
        raise ReservationLapsed(f"checkout {existing.checkout_id}'s reservation was released")
    if existing.lines != lines:
        raise Conflict(
            f"checkout {existing.checkout_id} already reserved other lines",
            code="RESERVATION_MISMATCH",
        )
    return existing


def _put_reservation(reservation: Reservation) -> dict[str, Any]:
    item = reservation.model_dump()
    item.update({k: v["S"] for k, v in reservation_key(reservation.checkout_id).items()})
    item["held"] = HELD  # sparse index key: only held reservations are swept
    return {
        "Put": {
            "TableName": inventory_table(),
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _move(allocation: Allocation, update: str, condition: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": inventory_table(),
            "Key": stock_key(allocation.sku, allocation.warehouse_id, allocation.shard),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":q": {"N": str(allocation.quantity)}},
        }
    }


def release(
    checkout_id: str, *, expired: bool = False, undo_commit: bool = False
) -> Reservation | None:
    """Give a held reservation's stock back. Releasing what is already released (or was never
    reserved) changes nothing. A committed reservation is refused, unless `undo_commit` (the
    saga compensating a step after the commit): then its stock is restocked."""
    new_status, movement = ("EXPIRED", "expiry") if expired else ("RELEASED", "release")
    for _ in range(MAX_ATTEMPTS):
        reservation = get_reservation(checkout_id)
        if reservation is None or reservation.status in ("RELEASED", "EXPIRED"):
            return reservation
        if reservation.status == "COMMITTED":
            if not undo_commit:
                raise Conflict(
                    f"checkout {checkout_id}'s stock is committed", code="RESERVATION_COMMITTED"
                )
            if _transact(_undo_commit_writes(reservation)) is None:
                return reservation.model_copy(update={"status": "RELEASED"})
            continue
        if expired and reservation.expires_at > now():
            return reservation  # extended meanwhile
        writes = [_finish(checkout_id, new_status)]
        for a in reservation.allocations:
            writes.append(
                _move(
                    a, "SET reserved = reserved - :q, available = available + :q", "reserved >= :q"
                )
            )
            writes.append(
                _ledger_entry(a.sku, a.warehouse_id, a.shard, movement, 0, -a.quantity, checkout_id)
            )
        if _transact(writes) is None:
            return reservation.model_copy(update={"status": new_status})
    raise Throttled("the reservation is changing too fast; retry")


def _undo_commit_writes(reservation: Reservation) -> list[dict[str, Any]]:
    finish = _finish(reservation.checkout_id, "RELEASED")
    finish["Update"]["ExpressionAttributeValues"][":held"] = {"S": "COMMITTED"}
    writes = [finish]
    for a in reservation.allocations:
        writes.append(
            _move(
                a, "SET on_hand = on_hand + :q, available = available + :q", "attribute_exists(pk)"
            )
        )
        writes.append(
            _ledger_entry(
                a.sku,
                a.warehouse_id,
                a.shard,
                "restock",
                a.quantity,
                0,
                f"returned: {reservation.checkout_id}",
            )
        )
    return writes


def commit(checkout_id: str) -> Reservation:
    """The sale happened: reserved stock leaves the warehouse. Idempotent."""
    for _ in range(MAX_ATTEMPTS):
        reservation = get_reservation(checkout_id)
        if reservation is None:
            raise NotFound(
                f"no reservation for checkout {checkout_id}", code="RESERVATION_NOT_FOUND"
            )
        if reservation.status == "COMMITTED":
            return reservation
        if reservation.status in ("RELEASED", "EXPIRED"):
            raise ReservationLapsed(
                f"checkout {checkout_id}'s reservation was {reservation.status.lower()}"
            )
        writes = [_finish(checkout_id, "COMMITTED")]
        for a in reservation.allocations:
            writes.append(
                _move(
                    a,
                    "SET on_hand = on_hand - :q, reserved = reserved - :q",
                    "reserved >= :q AND on_hand >= :q",
                )
            )
            writes.append(
                _ledger_entry(
                    a.sku, a.warehouse_id, a.shard, "commit", -a.quantity, -a.quantity, checkout_id
                )
            )
        if _transact(writes) is None:
            return reservation.model_copy(update={"status": "COMMITTED"})
    raise Throttled("the reservation is changing too fast; retry")


def extend(checkout_id: str, hold_seconds: int) -> Reservation:
    """Keep a held reservation for `hold_seconds` more (a payment is taking long)."""
    try:
        _client().update_item(
            TableName=inventory_table(),
            Key=reservation_key(checkout_id),
            UpdateExpression="SET expires_at = :at, updated_at = :now",
            ConditionExpression="#s = :held",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":at": {"N": str(math.ceil(now() + hold_seconds))},
                ":now": {"S": iso_now()},
                ":held": {"S": HELD},
            },
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        raise ReservationLapsed(f"checkout {checkout_id} holds no stock to extend") from None
    reservation = get_reservation(checkout_id)
    assert reservation is not None
    return reservation


def _finish(checkout_id: str, status: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": inventory_table(),
            "Key": reservation_key(checkout_id),
            "UpdateExpression": "SET #s = :new, updated_at = :now REMOVE held",
            "ConditionExpression": "#s = :held",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":new": {"S": status},
                ":held": {"S": HELD},
                ":now": {"S": iso_now()},
            },
        }
    }


def held_reservations(
    *, expiring_before: float | None = None, limit: int = 100, cursor: dict[str, Any] | None = None
) -> tuple[list[Reservation], dict[str, Any] | None]:
    query: dict[str, Any] = {
        "TableName": inventory_table(),
        "IndexName": "HeldReservationsIndex",
        "KeyConditionExpression": "held = :held",
        "ExpressionAttributeValues": {":held": {"S": HELD}},
        "Limit": limit,
    }
    if expiring_before is not None:
        query["KeyConditionExpression"] += " AND expires_at < :before"
        query["ExpressionAttributeValues"][":before"] = {"N": str(math.floor(expiring_before))}
    if cursor:
        query["ExclusiveStartKey"] = cursor
    response = _client().query(**query)
    found = []
    for item in response.get("Items", []):
        data = from_item(item)
        found.append(Reservation.model_validate(data))
    return found, response.get("LastEvaluatedKey")


def sweep_expired() -> int:
    """Release every held reservation whose time is up; returns how many were released."""
    released = 0
    cursor = None
    while True:
        expired, cursor = held_reservations(expiring_before=now(), cursor=cursor)
        for reservation in expired:
            after = release(reservation.checkout_id, expired=True)
            if after is not None and after.status == "EXPIRED":
                released += 1
        if not cursor:
            return released


# ----------------------------------------------------------------------------- first load
def seed_stock(levels: Iterable[tuple[str, str, int]]) -> int:
    """First stock of an EMPTY inventory (demo data, a migration): one unsharded item and one
    restock ledger entry per (sku, warehouse, quantity), in batches. A live shop changes stock
    with `set_stock`."""
    at = iso_now()
    items = []
    for sku, warehouse_id, quantity in levels:
        items.append(
            to_item(
                {
                    "pk": stock_pk(sku, 0),
                    "sk": stock_sk(warehouse_id),
                    "sku": sku,
                    "warehouse_id": warehouse_id,
                    "shard": 0,
                    "on_hand": quantity,
                    "reserved": 0,
                    "available": quantity,
                }
            )
        )
        items.append(
            to_item(
                {
                    "pk": ledger_pk(sku, 0),
                    "sk": f"{at}#{uuid.uuid4().hex}",
                    "sku": sku,
                    "warehouse_id": warehouse_id,
                    "shard": 0,
                    "movement": "restock",
                    "on_hand_delta": quantity,
                    "reserved_delta": 0,
                    "reference": "seed",
                    "at": at,
                }
            )
        )
    table = inventory_table()
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while pending:
            pending = _client().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items) // 2
