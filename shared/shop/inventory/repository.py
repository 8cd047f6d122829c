"""Inventory in DynamoDB: stock items, shard counts, reservations and ledger entries (their keys
are in shop.inventory.keys). The rules in shop.inventory.service decide which writes go into
one transaction; the writes themselves are built here.

Stock items keep `available` beside `on_hand` and `reserved` because a condition expression
cannot do arithmetic: `available >= :q` is the check that makes overselling impossible, so
every update of `on_hand` or `reserved` updates `available` in the same expression.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from shop.clock import iso_now
from shop.dynamo import (
    batch_write,
    delete_write,
    put_write,
    query_all,
    query_page,
    read_item,
    scan_all,
    transact,
    update_if,
    update_write,
)
from shop.inventory.allocation import lines_of
from shop.inventory.keys import (
    config_key,
    ledger_pk,
    reservation_key,
    stock_key,
    stock_pk,
    stock_sk,
)
from shop.inventory.models import Allocation, Reservation, StockLevel
from shop.pagination import page_cursor, start_key

HELD = "HELD"  # the sparse index key only held reservations carry
_HELD_INDEX_KEYS = frozenset({"pk", "sk", "held", "expires_at"})

StockChange = Literal["reserve", "release", "commit", "restock"]
# What each change does to a stock item (the `:q` units of an allocation), the condition that
# keeps the item whole, and the (on_hand, reserved) deltas its ledger entry records.
_CHANGES: dict[StockChange, tuple[str, str, int, int]] = {
    "reserve": (
        "SET reserved = reserved + :q, available = available - :q",
        "available >= :q",
        0,
        1,
    ),
    "release": (
        "SET reserved = reserved - :q, available = available + :q",
        "reserved >= :q",
        0,
        -1,
    ),
    "commit": (
        "SET on_hand = on_hand - :q, reserved = reserved - :q",
        "reserved >= :q AND on_hand >= :q",
        -1,
        -1,
    ),
    # A committed sale undone: the units come back on hand.
    "restock": (
        "SET on_hand = on_hand + :q, available = available + :q",
        "attribute_exists(pk)",
        1,
        0,
    ),
}


@dataclass(frozen=True)
class LedgerEntry:
    """One movement of one stock item, as the ledger records it."""

    sku: str
    warehouse_id: str
    shard: int
    movement: str  # restock, adjustment, reserve, release, expiry, commit
    on_hand_delta: int
    reserved_delta: int
    reference: str  # the checkout, or who changed the stock and why

    def item(self) -> dict[str, Any]:
        at = iso_now()
        return {
            "pk": ledger_pk(self.sku, self.shard),
            "sk": f"{at}#{uuid.uuid4().hex}",
            "sku": self.sku,
            "warehouse_id": self.warehouse_id,
            "shard": self.shard,
            "movement": self.movement,
            "on_hand_delta": self.on_hand_delta,
            "reserved_delta": self.reserved_delta,
            "reference": self.reference,
            "at": at,
        }


class InventoryRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # ------------------------------------------------------------------------- stock
    def shard_count(self, sku: str, *, consistent: bool = True) -> int:
        """How many stock partitions the SKU uses (1 unless an admin split it)."""
        item = read_item(self.table_name, config_key(sku), consistent=consistent)
        return int(item["shards"]) if item else 1

    def shard_levels(self, sku: str, shard: int, *, consistent: bool) -> list[StockLevel]:
        """The stock items of one shard partition (one per warehouse)."""
        items = query_all(
            self.table_name, "pk = :pk", {":pk": stock_pk(sku, shard)}, consistent=consistent
        )
        return [
            StockLevel(
                sku=sku,
                warehouse_id=item["warehouse_id"],
                shard=item["shard"],
                on_hand=item["on_hand"],
                reserved=item["reserved"],
                available=item["available"],
            )
            for item in items
        ]

    def use_shards(self, sku: str, shards: int) -> None:
        """Record that the SKU spans `shards` partitions, unless it already spans more (the
        count only grows)."""
        update_if(
            self.table_name,
            config_key(sku),
            "SET shards = :n",
            condition="attribute_not_exists(shards) OR shards < :n",
            values={":n": shards},
        )

    def put_level(
        self,
        sku: str,
        warehouse_id: str,
        shard: int,
        on_hand: int,
        reserved: int,
        before: StockLevel | None,
    ) -> dict[str, Any]:
        """Write a stock item whole, if it is still as `before` (absent, when None)."""
        item = {
            "pk": stock_pk(sku, shard),
            "sk": stock_sk(warehouse_id),
            "sku": sku,
            "warehouse_id": warehouse_id,
            "shard": shard,
            "on_hand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
        }
        if before is None:
            return put_write(item, condition="attribute_not_exists(pk)")
        return put_write(  # optimistic: nobody reserved or moved stock since we read it
            item,
            condition="on_hand = :on_hand AND reserved = :reserved",
            values={":on_hand": before.on_hand, ":reserved": before.reserved},
        )

    def delete_level(self, level: StockLevel) -> dict[str, Any]:
        """Remove an unreserved stock item, if it still holds what we read."""
        return delete_write(
            stock_key(level.sku, level.warehouse_id, level.shard),
            condition="on_hand = :old AND reserved = :zero",
            values={":old": level.on_hand, ":zero": 0},
        )

    def adjust_level(self, level: StockLevel, delta: int) -> dict[str, Any]:
        """Add `delta` on hand (and available), if the item has the units to take away."""
        return update_write(
            stock_key(level.sku, level.warehouse_id, level.shard),
            "SET on_hand = on_hand + :d, available = available + :d",
            condition="available >= :need",
            values={":d": delta, ":need": max(0, -delta)},
        )

    def move(
        self, allocation: Allocation, change: StockChange, *, movement: str, reference: str
    ) -> list[dict[str, Any]]:
        """An allocation's units changing state on its stock item, and the ledger entry that
        records it as `movement`: two writes of one transaction."""
        update, condition, on_hand_sign, reserved_sign = _CHANGES[change]
        a, q = allocation, allocation.quantity
        return [
            update_write(
                stock_key(a.sku, a.warehouse_id, a.shard),
                update,
                condition=condition,
                values={":q": q},
            ),
            self.record(
                LedgerEntry(
                    a.sku,
                    a.warehouse_id,
                    a.shard,
                    movement,
                    on_hand_sign * q,
                    reserved_sign * q,
                    reference,
                )
            ),
        ]

    def record(self, entry: LedgerEntry) -> dict[str, Any]:
        """The ledger entry's write (every change of a stock item has one in its transaction)."""
        return put_write(entry.item())

    def transact(self, writes: list[dict[str, Any]]) -> list[str] | None:
        """None when the transaction committed, else its cancellation codes."""
        return transact(writes, table=self.table_name)

    # ------------------------------------------------------------------------- reservations
    def reservation(self, checkout_id: str) -> Reservation | None:
        item = read_item(self.table_name, reservation_key(checkout_id))
        return None if item is None else Reservation.model_validate(item)

    def put_reservation(self, reservation: Reservation) -> dict[str, Any]:
        """A new reservation, held (the write fails if the checkout has one already)."""
        item = reservation.model_dump()
        item.update({k: v["S"] for k, v in reservation_key(reservation.checkout_id).items()})
        item["held"] = HELD  # sparse index key: only held reservations are swept
        return put_write(item, condition="attribute_not_exists(pk)")

    def finish(
        self, checkout_id: str, status: str, *, was: str = HELD, version: int = 0
    ) -> dict[str, Any]:
        """The reservation leaves status `was` for `status` (once: the condition is on `was`)
        and so leaves the held index; only as it was read (`version`: a hold whose units a
        checkout took meanwhile must be read again)."""
        return update_write(
            reservation_key(checkout_id),
            "SET #s = :new, updated_at = :now REMOVE held",
            condition="#s = :held AND (attribute_not_exists(#ver) OR #ver = :v)",
            names={"#s": "status", "#ver": "version"},
            values={":new": status, ":held": was, ":now": iso_now(), ":v": version},
        )

    def rehold(self, hold: Reservation, allocations: list[Allocation]) -> dict[str, Any]:
        """A held reservation now keeps `allocations` (units taken from it or given back), if
        nobody changed what it keeps since it was read (its version)."""
        condition = "#s = :held AND #ver = :v"
        if hold.version == 0:  # reservations written before versions had none
            condition = "#s = :held AND (attribute_not_exists(#ver) OR #ver = :v)"
        return update_write(
            reservation_key(hold.checkout_id),
            "SET allocations = :a, #l = :l, #ver = :next, updated_at = :now",
            condition=condition,
            names={"#s": "status", "#l": "lines", "#ver": "version"},
            values={
                ":a": [a.model_dump() for a in allocations],
                ":l": [line.model_dump() for line in lines_of(allocations)],
                ":v": hold.version,
                ":next": hold.version + 1,
                ":held": HELD,
                ":now": iso_now(),
            },
        )

    def extend(self, checkout_id: str, expires_at: int) -> Reservation | None:
        """Move a held reservation's expiry; None when it is not held."""
        item = update_if(
            self.table_name,
            reservation_key(checkout_id),
            "SET expires_at = :at, updated_at = :now",
            condition="#s = :held",
            names={"#s": "status"},
            values={":at": expires_at, ":now": iso_now(), ":held": HELD},
        )
        return None if item is None else Reservation.model_validate(item)

    def held(
        self, *, expiring_before: float | None, limit: int, cursor: str | None
    ) -> tuple[list[Reservation], str | None]:
        """A page of held reservations, soonest expiry first, and the cursor of the next."""
        condition = "held = :held"
        values: dict[str, Any] = {":held": HELD}
        if expiring_before is not None:
            condition += " AND expires_at < :before"
            values[":before"] = math.floor(expiring_before)
        items, last = query_page(
            self.table_name,
            condition,
            values,
            index="HeldReservationsIndex",
            limit=limit,
            start=start_key(cursor, keys=_HELD_INDEX_KEYS, numbers=frozenset({"expires_at"})),
        )
        return [Reservation.model_validate(item) for item in items], page_cursor(last)

    # ------------------------------------------------------------------------- bulk
    def seed(self, levels: Iterable[tuple[str, str, int]]) -> int:
        """One unsharded stock item and one restock ledger entry per (sku, warehouse,
        quantity), batch-written with no conditions; returns how many stock items."""
        items: list[dict[str, Any]] = []
        for sku, warehouse_id, quantity in levels:
            items.append(
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
            items.append(LedgerEntry(sku, warehouse_id, 0, "restock", quantity, 0, "seed").item())
        batch_write(self.table_name, items)
        return len(items) // 2

    def everything(self) -> Iterator[dict[str, Any]]:
        """Every item of the table, for the offline audit only. Pages of 500: the emulator
        serializes a whole page at once."""
        return scan_all(self.table_name, page_size=500)
