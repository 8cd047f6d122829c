"""Choosing which stock items a reservation takes from: plain rules, no I/O.

A SKU's stock lives in one item per (warehouse, shard). A hot SKU is split into shards so that
concurrent reservations write different items (DynamoDB serves about 1,000 writes per second to
one item); the planner spreads load by starting at a random shard, and still takes from any
shard that has stock, so the SKU is sold out only when every shard is.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from shop.inventory.models import Allocation, ReservationLine, StockLevel


class Unavailable(Exception):
    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(f"{sku}: {requested} requested, {available} available")
        self.sku, self.requested, self.available = sku, requested, available


def merge_lines(lines: Sequence[ReservationLine]) -> list[ReservationLine]:
    """Two lines of one SKU are one demand: reserve their sum, never each on its own."""
    totals: Counter[str] = Counter()
    for line in lines:
        totals[line.sku] += line.quantity
    return [ReservationLine(sku=sku, quantity=qty) for sku, qty in sorted(totals.items())]


def plan(
    lines: Sequence[ReservationLine],
    stock: dict[str, list[StockLevel]],
    rng: random.Random | None = None,
) -> list[Allocation]:
    """Allocations covering every line, or `Unavailable` for the first line that cannot be
    covered by all of its SKU's stock items together."""
    rng = rng or random.Random()
    allocations: list[Allocation] = []
    for line in merge_lines(lines):
        levels = [lvl for lvl in stock.get(line.sku, []) if lvl.available > 0]
        total = sum(lvl.available for lvl in levels)
        if total < line.quantity:
            raise Unavailable(line.sku, line.quantity, total)
        # Prefer the warehouse with most stock (fewer splits), and within it start at a random
        # shard so that concurrent checkouts of a hot SKU land on different items.
        by_warehouse: dict[str, list[StockLevel]] = {}
        for lvl in levels:
            by_warehouse.setdefault(lvl.warehouse_id, []).append(lvl)
        ordered: list[StockLevel] = []
        for _, shards in sorted(
            by_warehouse.items(), key=lambda kv: (-sum(s.available for s in kv[1]), kv[0])
        ):
            start = rng.randrange(len(shards))
            ordered += shards[start:] + shards[:start]
        remaining = line.quantity
        for lvl in ordered:
            take = min(remaining, lvl.available)
            allocations.append(
                Allocation(
                    sku=line.sku, warehouse_id=lvl.warehouse_id, shard=lvl.shard, quantity=take
                )
            )
            remaining -= take
            if remaining == 0:
                break
    return allocations


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` over `parts` as evenly as whole units allow (the first parts get the extra)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def take_from(
    held: Sequence[Allocation], lines: Sequence[ReservationLine]
) -> tuple[list[Allocation], list[Allocation]]:
    """Split what a hold keeps into (what covers `lines`, what stays held), the units keeping
    their stock items; `Unavailable` for the first line the hold cannot cover."""
    kept: Counter[tuple[str, str, int]] = Counter()
    for a in held:
        kept[(a.sku, a.warehouse_id, a.shard)] += a.quantity
    taken: list[Allocation] = []
    for line in merge_lines(lines):
        items = [key for key in sorted(kept) if key[0] == line.sku and kept[key] > 0]
        total = sum(kept[key] for key in items)
        if total < line.quantity:
            raise Unavailable(line.sku, line.quantity, total)
        remaining = line.quantity
        for key in items:
            take = min(remaining, kept[key])
            taken.append(Allocation(sku=key[0], warehouse_id=key[1], shard=key[2], quantity=take))
            kept[key] -= take
            remaining -= take
            if remaining == 0:
                break
    return taken, merge_allocations(
        [Allocation(sku=k[0], warehouse_id=k[1], shard=k[2], quantity=q) for k, q in kept.items()]
    )


def merge_allocations(allocations: Sequence[Allocation]) -> list[Allocation]:
    """One allocation per stock item, in a stable order, none of zero units."""
    totals: Counter[tuple[str, str, int]] = Counter()
    for a in allocations:
        totals[(a.sku, a.warehouse_id, a.shard)] += a.quantity
    return [
        Allocation(sku=sku, warehouse_id=warehouse_id, shard=shard, quantity=quantity)
        for (sku, warehouse_id, shard), quantity in sorted(totals.items())
        if quantity > 0
    ]


def lines_of(allocations: Sequence[Allocation]) -> list[ReservationLine]:
    """The lines a set of allocations covers."""
    totals: Counter[str] = Counter()
    for a in allocations:
        totals[a.sku] += a.quantity
    return [ReservationLine(sku=sku, quantity=q) for sku, q in sorted(totals.items()) if q > 0]
