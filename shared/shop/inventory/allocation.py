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
