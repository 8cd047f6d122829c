"""Inventory's plain rules: merging lines, planning allocations, splitting stock, keys."""

from __future__ import annotations

import random

import pytest

from shop.inventory.allocation import Unavailable, merge_lines, plan, split_evenly
from shop.inventory.keys import ledger_pk, stock_key
from shop.inventory.models import ReservationLine, StockLevel


def level(warehouse: str, shard: int, available: int) -> StockLevel:
    return StockLevel(
        sku="S",
        warehouse_id=warehouse,
        shard=shard,
        on_hand=available,
        reserved=0,
        available=available,
    )


def line(quantity: int, sku: str = "S") -> ReservationLine:
    return ReservationLine(sku=sku, quantity=quantity)


def test_lines_of_one_sku_are_one_demand() -> None:
    assert merge_lines([line(2), line(3), line(1, "T")]) == [line(5), line(1, "T")]


def test_a_plan_takes_from_several_shards_only_when_one_is_not_enough() -> None:
    stock = {"S": [level("a", i, 2) for i in range(5)]}
    assert len(plan([line(2)], stock, random.Random(1))) == 1
    allocations = plan([line(9)], stock, random.Random(1))
    assert sum(a.quantity for a in allocations) == 9
    assert len({a.shard for a in allocations}) == 5


def test_a_sku_is_sold_out_only_when_all_its_shards_together_are_short() -> None:
    stock = {"S": [level("a", 0, 0), level("a", 1, 0), level("a", 2, 1)]}
    assert plan([line(1)], stock)[0].shard == 2
    with pytest.raises(Unavailable) as short:
        plan([line(2)], stock)
    assert (short.value.requested, short.value.available) == (2, 1)


def test_concurrent_plans_start_at_different_shards() -> None:
    stock = {"S": [level("a", i, 100) for i in range(8)]}
    starts = {plan([line(1)], stock, random.Random(seed))[0].shard for seed in range(50)}
    assert len(starts) > 4


def test_the_warehouse_with_most_stock_is_used_first() -> None:
    stock = {"S": [level("small", 0, 3), level("big", 0, 30)]}
    assert plan([line(3)], stock)[0].warehouse_id == "big"


@pytest.mark.parametrize(
    ("total", "parts", "shares"), [(10, 3, [4, 3, 3]), (2, 4, [1, 1, 0, 0]), (0, 2, [0, 0])]
)
def test_stock_splits_evenly_over_shards(total: int, parts: int, shares: list[int]) -> None:
    assert split_evenly(total, parts) == shares


def test_each_shard_and_its_ledger_is_its_own_partition() -> None:
    assert stock_key("S", "a", 0)["pk"] != stock_key("S", "a", 1)["pk"]
    assert stock_key("S", "a", 0)["pk"] == stock_key("S", "b", 0)["pk"]
    assert ledger_pk("S", 0) != ledger_pk("S", 1)
