"""Inventory rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from shop import aws
from shop.clock import iso_now
from shop.config import inventory_table
from shop.dynamo import to_item
from shop.inventory.keys import ledger_pk, sku_pk, stock_sk


def seed_stock(levels: Iterable[tuple[str, str, int]]) -> int:
    """First stock of an empty inventory (demo data, a migration): one restock movement per
    (sku, warehouse, quantity), written in batches. Not for a live shop, where stock changes go
    through conditional writes."""
    client = aws.client("dynamodb")
    table = inventory_table()
    now = iso_now()
    requests = []
    for sku, warehouse_id, quantity in levels:
        requests.append(
            to_item(
                {
                    "pk": sku_pk(sku),
                    "sk": stock_sk(warehouse_id, 0),
                    "sku": sku,
                    "warehouse_id": warehouse_id,
                    "on_hand": quantity,
                    "reserved": 0,
                }
            )
        )
        requests.append(
            to_item(
                {
                    "pk": ledger_pk(sku),
                    "sk": f"{now}#{uuid.uuid4().hex}",
                    "sku": sku,
                    "warehouse_id": warehouse_id,
                    "movement": "restock",
                    "on_hand_delta": quantity,
                    "reserved_delta": 0,
                    "at": now,
                }
            )
        )
    for start in range(0, len(requests), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in requests[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(requests) // 2
