"""Re-derive stock from the ledger and check it against the stock items and reservations.

Run after every race in the tests, and by `shop check-inventory` against a running platform.
It scans the whole inventory table: an offline check, not something for a request path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shop.config import inventory_table
from shop.inventory.repository import InventoryRepository


def audit() -> list[str]:
    """Every disagreement found; an empty list means ledger, stock and reservations agree."""
    problems: list[str] = []
    ledger: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    stock: dict[tuple[str, str, int], dict[str, Any]] = {}
    held: dict[tuple[str, str, int], int] = defaultdict(int)
    for item in InventoryRepository(inventory_table()).everything():
        sk: str = item["sk"]
        if item["pk"].startswith("LEDGER#"):
            key = (item["sku"], item["warehouse_id"], item["shard"])
            ledger[key][0] += item["on_hand_delta"]
            ledger[key][1] += item["reserved_delta"]
        elif item["pk"].startswith("STOCK#"):
            stock[(item["sku"], item["warehouse_id"], item["shard"])] = item
        elif sk == "RESERVATION" and item["status"] == "HELD":
            for allocation in item["allocations"]:
                held[(allocation["sku"], allocation["warehouse_id"], allocation["shard"])] += (
                    allocation["quantity"]
                )
    for key in sorted(set(stock) | set(ledger)):
        name = "{}@{}#{}".format(*key)
        on_hand, reserved = ledger.get(key, [0, 0])
        item = stock.get(key, {"on_hand": 0, "reserved": 0, "available": 0})
        if (item["on_hand"], item["reserved"]) != (on_hand, reserved):
            problems.append(
                f"{name}: stock says on_hand={item['on_hand']} reserved={item['reserved']}, "
                f"ledger says on_hand={on_hand} reserved={reserved}"
            )
        if item["available"] != item["on_hand"] - item["reserved"]:
            problems.append(f"{name}: available={item['available']} is not on_hand - reserved")
        if min(item["on_hand"], item["reserved"], item["available"]) < 0:
            problems.append(f"{name}: negative stock {item}")
        if item["reserved"] != held.get(key, 0):
            problems.append(
                f"{name}: reserved={item['reserved']} but held reservations take {held.get(key, 0)}"
            )
    return problems
