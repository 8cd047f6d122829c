"""The inventory table's item keys, in one place.

    pk = STOCK#<sku>#<shard>      sk = WH#<warehouse>   on_hand, reserved, available
    pk = SKU#<sku>                sk = CONFIG           shards: how many stock partitions
    pk = RESERVATION#<checkout>   sk = RESERVATION      lines, allocations, status, expires_at
    pk = LEDGER#<sku>#<shard>     sk = <iso time>#<id>  one movement of one stock item

The shard is part of the *partition* key of stock items and of their ledger entries: DynamoDB's
per-partition limit (about 1,000 writes per second) then applies to each shard, not to the SKU.
A shard in the sort key only would leave every shard of a SKU in one partition.
"""

from __future__ import annotations

from typing import Any


def stock_pk(sku: str, shard: int) -> str:
    return f"STOCK#{sku}#{shard:03d}"


def stock_sk(warehouse_id: str) -> str:
    return f"WH#{warehouse_id}"


def stock_key(sku: str, warehouse_id: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": stock_pk(sku, shard)}, "sk": {"S": stock_sk(warehouse_id)}}


def config_key(sku: str) -> dict[str, Any]:
    return {"pk": {"S": f"SKU#{sku}"}, "sk": {"S": "CONFIG"}}


def reservation_key(checkout_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"RESERVATION#{checkout_id}"}, "sk": {"S": "RESERVATION"}}


def ledger_pk(sku: str, shard: int) -> str:
    return f"LEDGER#{sku}#{shard:03d}"
