"""The inventory table's item keys, in one place.

pk = SKU#<sku>               sk = STOCK#<warehouse>#<shard>  on_hand, reserved
pk = SKU#<sku>               sk = CONFIG                     shards (hot-SKU split)
pk = RESERVATION#<checkout>  sk = RESERVATION                lines, status, expires_at
pk = LEDGER#<sku>            sk = <iso time>#<movement id>   one movement of stock
"""

from __future__ import annotations

from typing import Any


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def stock_sk(warehouse_id: str, shard: int) -> str:
    return f"STOCK#{warehouse_id}#{shard:03d}"


def stock_key(sku: str, warehouse_id: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": sku_pk(sku)}, "sk": {"S": stock_sk(warehouse_id, shard)}}


def parse_stock_sk(sk: str) -> tuple[str, int]:
    _, warehouse_id, shard = sk.split("#")
    return warehouse_id, int(shard)


def reservation_key(checkout_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"RESERVATION#{checkout_id}"}, "sk": {"S": "RESERVATION"}}


def ledger_pk(sku: str) -> str:
    return f"LEDGER#{sku}"
