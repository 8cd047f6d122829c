"""Inventory rules: stock levels, reservations and the ledger (the DynamoDB side is
shop.inventory.repository).

Every change is a conditional write or a transaction, and every change of a stock item writes
its ledger entry in the same transaction, so the ledger can re-derive the stock at any time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

from shop import metrics
from shop.clock import iso_now, now
from shop.config import inventory_table
from shop.dynamo import TRANSACTION_ITEM_LIMIT
from shop.errors import (
    BelowReserved,
    InsufficientStock,
    OutOfStock,
    ReservationCommitted,
    ReservationLapsed,
    ReservationMismatch,
    ReservationNotFound,
    ShardsInUse,
    SkuNotStocked,
    Throttled,
    ValidationFailed,
)
from shop.inventory.allocation import (
    Unavailable,
    merge_allocations,
    merge_lines,
    plan,
    split_evenly,
    take_from,
)
from shop.inventory.models import (
    Allocation,
    Availability,
    Reservation,
    ReservationLine,
    ReservationPage,
    ReserveRequest,
    StockLevel,
)
from shop.inventory.repository import InventoryRepository, LedgerEntry

MAX_ATTEMPTS = 8  # optimistic retries when a concurrent change beat us to a stock item


def repository() -> InventoryRepository:
    return InventoryRepository(inventory_table())


# ----------------------------------------------------------------------------- reading stock
def stock_levels(sku: str, *, consistent: bool = True) -> list[StockLevel]:
    """Every stock item of the SKU: one Query per shard partition."""
    repo = repository()
    levels = []
    for shard in range(repo.shard_count(sku, consistent=consistent)):
        levels += repo.shard_levels(sku, shard, consistent=consistent)
    return levels


def any_in_stock(skus: Iterable[str]) -> bool:
    """Whether any of the SKUs has a unit to sell (a product is in stock when one of its
    variants is), eventually consistent: for what a shopper is shown, not for selling."""
    return any(level.available > 0 for sku in skus for level in stock_levels(sku, consistent=False))


def _levels_covering(sku: str, need: int) -> list[StockLevel]:
    """Enough of the SKU's stock items to cover `need`, read shard by shard from a random one:
    a hot SKU's reservation usually reads one partition, and reads them all only when the
    units are scattered or short (then the planner reports what all of them hold)."""
    repo = repository()
    count = repo.shard_count(sku)
    start = random.randrange(count)
    levels: list[StockLevel] = []
    for i in range(count):
        levels += repo.shard_levels(sku, (start + i) % count, consistent=True)
        if sum(level.available for level in levels) >= need:
            break
    return levels


def _use_shards(sku: str, shards: int) -> None:
    """Record that the SKU now spans `shards` partitions (the count only grows: a warehouse
    with fewer shards leaves the others' partitions empty, which readers skip cheaply). Written
    before the stock itself, so readers never miss a shard that holds stock."""
    repository().use_shards(sku, shards)


def availability(sku: str) -> Availability:
    """Public availability: an eventually consistent sum over warehouses and shards."""
    levels = stock_levels(sku, consistent=False)
    if not levels:
        raise SkuNotStocked(f"no stock is kept for {sku}")
    available = sum(level.available for level in levels)
    return Availability(sku=sku, available=available, in_stock=available > 0)


def _transact(writes: list[dict[str, Any]]) -> list[str] | None:
    """Run a transaction; None when it committed, else the cancellation codes."""
    if len(writes) > TRANSACTION_ITEM_LIMIT:
        raise ValidationFailed("the change touches too many stock items at once")
    return repository().transact(writes)


# ----------------------------------------------------------------------------- admin changes
def set_stock(
    sku: str, warehouse_id: str, quantity: int, *, shards: int | None = None, reference: str = ""
) -> list[StockLevel]:
    """Make a warehouse's on-hand stock of `sku` equal `quantity`, optionally split over
    `shards` items. What is reserved stays reserved; the available rest is spread evenly."""
    repo = repository()
    for _ in range(MAX_ATTEMPTS):
        current = [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
        by_shard = {lvl.shard: lvl for lvl in current}
        count = shards or max(len(current), 1)
        # Every refusal comes before the first write: a refused change leaves nothing behind.
        reserved = sum(lvl.reserved for lvl in current)
        if quantity < reserved:
            raise BelowReserved(
                f"{reserved} units of {sku} are reserved in {warehouse_id}; cannot set {quantity}",
                details={"reserved": reserved},
            )
        dropped = [lvl for lvl in current if lvl.shard >= count]
        if any(lvl.reserved for lvl in dropped):
            raise ShardsInUse("shards being removed still hold reservations")
        if 2 * (count + len(dropped)) > TRANSACTION_ITEM_LIMIT:  # a put and an entry each
            raise ValidationFailed("the change touches too many stock items at once")
        if count > 1:
            _use_shards(sku, count)
        kept_reserved = [by_shard[i].reserved if i in by_shard else 0 for i in range(count)]
        shares = split_evenly(quantity - reserved, count)
        total_delta = quantity - sum(lvl.on_hand for lvl in current)
        movement = "restock" if total_delta >= 0 else "adjustment"
        writes: list[dict[str, Any]] = []
        for shard in range(count):
            on_hand = kept_reserved[shard] + shares[shard]
            before = by_shard.get(shard)
            writes.append(
                repo.put_level(sku, warehouse_id, shard, on_hand, kept_reserved[shard], before)
            )
            delta = on_hand - (before.on_hand if before else 0)
            if delta:
                writes.append(
                    repo.record(
                        LedgerEntry(sku, warehouse_id, shard, movement, delta, 0, reference)
                    )
                )
        for lvl in dropped:
            writes.append(repo.delete_level(lvl))
            writes.append(
                repo.record(
                    LedgerEntry(sku, warehouse_id, lvl.shard, movement, -lvl.on_hand, 0, reference)
                )
            )
        if _transact(writes) is None:
            return [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
    raise Throttled(f"stock of {sku} is changing too fast; retry")


def adjust_stock(sku: str, warehouse_id: str, delta: int, reason: str) -> list[StockLevel]:
    """Add `delta` (negative for damage or a recount) to one stock item that can take it."""
    levels = sorted(
        (lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id),
        key=lambda lvl: -lvl.available,
    )
    if not levels:
        raise SkuNotStocked(f"{warehouse_id} keeps no stock of {sku}")
    repo = repository()
    for level in levels:
        update = repo.adjust_level(level, delta)
        ledger = repo.record(
            LedgerEntry(sku, warehouse_id, level.shard, "adjustment", delta, 0, reason)
        )
        if _transact([update, ledger]) is None:
            return [lvl for lvl in stock_levels(sku) if lvl.warehouse_id == warehouse_id]
    raise InsufficientStock(
        f"no stock item of {sku} in {warehouse_id} has {-delta} units available to remove"
    )


# ----------------------------------------------------------------------------- reservations
def get_reservation(checkout_id: str) -> Reservation | None:
    return repository().reservation(checkout_id)


def _out_of_stock(short: Unavailable) -> OutOfStock:
    metrics.count("OversellRefused")  # the conditional write that would have oversold: refused
    return OutOfStock(
        f"only {short.available} of {short.sku} available, {short.requested} requested",
        details={"sku": short.sku, "requested": short.requested, "available": short.available},
    )


def reserve(request: ReserveRequest, *, expires_at: int | None = None) -> Reservation:
    """Hold stock for every line of a checkout, all or nothing; repeating it is harmless.
    `expires_at` (epoch seconds) overrides `hold_seconds`, for a hold longer than a day."""
    lines = merge_lines(request.lines)
    if request.from_hold is not None:
        return _take_from_hold(request, request.from_hold, lines)
    for _ in range(MAX_ATTEMPTS):
        existing = get_reservation(request.checkout_id)
        if existing is not None:
            return _same_request(existing, lines)
        stock = {line.sku: _levels_covering(line.sku, line.quantity) for line in lines}
        try:
            allocations = plan(lines, stock)
        except Unavailable as short:
            raise _out_of_stock(short) from None
        reservation = _held(
            request, lines, allocations, expires_at or math.ceil(now() + request.hold_seconds)
        )
        repo = repository()
        writes = [repo.put_reservation(reservation)]
        for a in allocations:
            writes += repo.move(a, "reserve", movement="reserve", reference=request.checkout_id)
        codes = _transact(writes)
        if codes is None:
            return reservation
        # Another request for this checkout won, or stock moved under us: read again.
    raise Throttled("stock is changing too fast; retry the reservation")


def _held(
    request: ReserveRequest,
    lines: list[ReservationLine],
    allocations: list[Allocation],
    expires_at: int,
    *,
    from_hold: str | None = None,
) -> Reservation:
    """A new reservation of the checkout's lines, held until `expires_at`."""
    at = iso_now()
    return Reservation(
        checkout_id=request.checkout_id,
        status="HELD",
        lines=lines,
        allocations=allocations,
        expires_at=expires_at,
        created_at=at,
        updated_at=at,
        from_hold=from_hold,
    )


def _take_from_hold(
    request: ReserveRequest, hold_id: str, lines: list[ReservationLine]
) -> Reservation:
    """A checkout's units taken from what a hold keeps (a flash sale's set-aside): they stay
    reserved on the same stock items and only change owner, so no stock item and no ledger
    entry changes; the two reservations change in one transaction, the hold's on its version."""
    repo = repository()
    for _ in range(MAX_ATTEMPTS):
        existing = get_reservation(request.checkout_id)
        if existing is not None:
            return _same_request(existing, lines)
        hold = get_reservation(hold_id)
        if hold is None or hold.status != "HELD":
            raise ReservationLapsed(f"{hold_id} keeps no units any more")
        try:
            taken, kept = take_from(hold.allocations, lines)
        except Unavailable as short:
            raise _out_of_stock(short) from None
        reservation = _held(
            request, lines, taken, math.ceil(now() + request.hold_seconds), from_hold=hold_id
        )
        if _transact([repo.put_reservation(reservation), repo.rehold(hold, kept)]) is None:
            return reservation
    raise Throttled("the hold is changing too fast; retry the reservation")


def _give_back_to_hold(reservation: Reservation, new_status: str) -> bool | None:
    """Return a released reservation's units to the hold they were taken from: True when
    done, False when the hold changed meanwhile (read again), None when the hold is no
    longer kept (the units go back to stock instead)."""
    hold = get_reservation(reservation.from_hold or "")
    if hold is None or hold.status != "HELD":
        return None
    repo = repository()
    writes = [
        repo.finish(reservation.checkout_id, new_status, version=reservation.version),
        repo.rehold(hold, merge_allocations([*hold.allocations, *reservation.allocations])),
    ]
    return _transact(writes) is None


def _same_request(existing: Reservation, lines: list[ReservationLine]) -> Reservation:
    if existing.status in ("RELEASED", "EXPIRED"):
        raise ReservationLapsed(f"checkout {existing.checkout_id}'s reservation was released")
    if existing.lines != lines:
        raise ReservationMismatch(f"checkout {existing.checkout_id} already reserved other lines")
    return existing


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
                raise ReservationCommitted(f"checkout {checkout_id}'s stock is committed")
            if _transact(_undo_commit_writes(reservation)) is None:
                return reservation.model_copy(update={"status": "RELEASED"})
            continue
        if expired and reservation.expires_at > now():
            return reservation  # extended meanwhile
        if reservation.from_hold is not None:
            given_back = _give_back_to_hold(reservation, new_status)
            if given_back:
                return reservation.model_copy(update={"status": new_status})
            if given_back is False:
                continue
        repo = repository()
        writes = [repo.finish(checkout_id, new_status, version=reservation.version)]
        for a in reservation.allocations:
            writes += repo.move(a, "release", movement=movement, reference=checkout_id)
        if _transact(writes) is None:
            return reservation.model_copy(update={"status": new_status})
    raise Throttled("the reservation is changing too fast; retry")


def _undo_commit_writes(reservation: Reservation) -> list[dict[str, Any]]:
    repo = repository()
    writes = [repo.finish(reservation.checkout_id, "RELEASED", was="COMMITTED")]
    for a in reservation.allocations:
        writes += repo.move(
            a, "restock", movement="restock", reference=f"returned: {reservation.checkout_id}"
        )
    return writes


def commit(checkout_id: str) -> Reservation:
    """The sale happened: reserved stock leaves the warehouse. Idempotent."""
    for _ in range(MAX_ATTEMPTS):
        reservation = get_reservation(checkout_id)
        if reservation is None:
            raise ReservationNotFound(f"no reservation for checkout {checkout_id}")
        if reservation.status == "COMMITTED":
            return reservation
        if reservation.status in ("RELEASED", "EXPIRED"):
            raise ReservationLapsed(
                f"checkout {checkout_id}'s reservation was {reservation.status.lower()}"
            )
        repo = repository()
        writes = [repo.finish(checkout_id, "COMMITTED", version=reservation.version)]
        for a in reservation.allocations:
            writes += repo.move(a, "commit", movement="commit", reference=checkout_id)
        if _transact(writes) is None:
            return reservation.model_copy(update={"status": "COMMITTED"})
    raise Throttled("the reservation is changing too fast; retry")


def restock_writes(allocations: Iterable[Allocation], reference: str) -> list[dict[str, Any]]:
    """The writes putting units that left stock with a sale (a cancelled shipment, a received
    return) back on the stock items they came from, each with its ledger entry: for a
    transaction whose other write records, once, that it happened."""
    repo = repository()
    writes: list[dict[str, Any]] = []
    for a in allocations:
        writes += repo.move(a, "restock", movement="restock", reference=reference)
    for write in writes:
        next(iter(write.values()))["TableName"] = repo.table_name
    return writes


def extend(checkout_id: str, hold_seconds: int) -> Reservation:
    """Keep a held reservation for `hold_seconds` more (a payment is taking long)."""
    extended = repository().extend(checkout_id, math.ceil(now() + hold_seconds))
    if extended is None:
        raise ReservationLapsed(f"checkout {checkout_id} holds no stock to extend")
    return extended


def held_reservations(
    *, expiring_before: float | None = None, limit: int = 100, cursor: str | None = None
) -> ReservationPage:
    """Held reservations, soonest expiry first, a page at a time (`cursor` is opaque)."""
    items, next_cursor = repository().held(
        expiring_before=expiring_before, limit=limit, cursor=cursor
    )
    return ReservationPage(items=items, cursor=next_cursor)


def sweep_expired() -> int:
    """Release every held reservation whose time is up; returns how many were released."""
    released = 0
    cursor = None
    while True:
        page = held_reservations(expiring_before=now(), cursor=cursor)
        for reservation in page.items:
            after = release(reservation.checkout_id, expired=True)
            if after is not None and after.status == "EXPIRED":
                released += 1
        cursor = page.cursor
        if not cursor:
            return released


# ----------------------------------------------------------------------------- first load
def seed_stock(levels: Iterable[tuple[str, str, int]]) -> int:
    """First stock of an EMPTY inventory (demo data, a migration): one unsharded item and one
    restock ledger entry per (sku, warehouse, quantity), in batches. A live shop changes stock
    with `set_stock`."""
    return repository().seed(levels)
