"""Inventory: stock never negative, reservations never beyond what is available, whatever runs
concurrently; the ledger re-derives the stock after every race."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from helpers import Api, assert_error, invoke, unique
from shop.inventory.audit import audit
from shop_local.event_sources import scheduled_event
from shop_local.platform import LocalPlatform


@pytest.fixture(autouse=True)
def ledger_agrees_afterwards(platform: LocalPlatform) -> Iterator[None]:
    yield
    assert audit() == []


def stock(
    api: Api, sku: str, quantity: int, *, warehouse: str = "wh-test", shards: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"warehouse_id": warehouse, "quantity": quantity}
    if shards:
        body["shards"] = shards
    response = api.put(f"/admin/inventory/{sku}", json=body, user="alice", admin=True)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def available(api: Api, sku: str) -> int:
    response = api.get(f"/inventory/{sku}")
    assert response.status_code == 200, response.text
    return int(response.json()["available"])


def reserve(
    platform: LocalPlatform, checkout: str, lines: list[tuple[str, int]], hold_seconds: int = 900
) -> tuple[Any, str | None]:
    return invoke(
        platform,
        "ReserveStockFunction",
        {
            "checkout_id": checkout,
            "hold_seconds": hold_seconds,
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
        },
    )


def new_sku() -> str:
    return unique("INV").upper()


def test_an_admin_sets_stock_and_anyone_sees_availability(api: Api) -> None:
    sku = new_sku()
    stock(api, sku, 12)
    stock(api, sku, 5, warehouse="wh-other")
    assert api.get(f"/inventory/{sku}").json() == {"sku": sku, "available": 17, "in_stock": True}


def test_a_reservation_holds_stock_and_commit_takes_it_out(
    api: Api, platform: LocalPlatform
) -> None:
    sku = new_sku()
    stock(api, sku, 10)
    held, error = reserve(platform, unique("co"), [(sku, 3)])
    assert error is None
    assert held["status"] == "HELD"
    assert available(api, sku) == 7
    committed, error = invoke(platform, "CommitStockFunction", {"checkout_id": held["checkout_id"]})
    assert (error, committed["status"]) == (None, "COMMITTED")
    levels = stock(api, sku, 7)["levels"]  # recount to what is left: no change in quantity
    assert [(lvl["on_hand"], lvl["reserved"]) for lvl in levels] == [(7, 0)]


def test_reserve_release_and_commit_are_idempotent(api: Api, platform: LocalPlatform) -> None:
    sku, checkout = new_sku(), unique("co")
    stock(api, sku, 10)
    first, _ = reserve(platform, checkout, [(sku, 4)])
    again, _ = reserve(platform, checkout, [(sku, 4)])
    assert again == first
    assert available(api, sku) == 6
    for _ in range(2):
        released, error = invoke(platform, "ReleaseStockFunction", {"checkout_id": checkout})
        assert (error, released["status"]) == (None, "RELEASED")
    assert available(api, sku) == 10
    _, error = invoke(platform, "CommitStockFunction", {"checkout_id": checkout})
    assert error == "ReservationLapsed"


def test_releasing_a_checkout_that_never_reserved_is_a_no_op(platform: LocalPlatform) -> None:
    result, error = invoke(platform, "ReleaseStockFunction", {"checkout_id": unique("never")})
    assert (error, result) == (None, {"released": False, "status": None})


def test_two_lines_of_one_sku_are_reserved_as_their_sum(api: Api, platform: LocalPlatform) -> None:
    sku = new_sku()
    stock(api, sku, 5)
    _, error = reserve(platform, unique("co"), [(sku, 3), (sku, 3)])
    assert error == "OutOfStock"
    assert available(api, sku) == 5
    held, error = reserve(platform, unique("co"), [(sku, 2), (sku, 3)])
    assert error is None
    assert held["lines"] == [{"sku": sku, "quantity": 5}]


def test_a_multi_line_reservation_is_all_or_nothing(api: Api, platform: LocalPlatform) -> None:
    plenty, scarce = new_sku(), new_sku()
    stock(api, plenty, 50)
    stock(api, scarce, 1)
    result, error = reserve(platform, unique("co"), [(plenty, 10), (scarce, 2)])
    assert error == "OutOfStock"
    assert result["errorMessage"].startswith("only 1 of")
    assert (available(api, plenty), available(api, scarce)) == (50, 1)


def test_a_reservation_spans_warehouses_when_one_is_not_enough(
    api: Api, platform: LocalPlatform
) -> None:
    sku = new_sku()
    stock(api, sku, 3, warehouse="wh-a")
    stock(api, sku, 4, warehouse="wh-b")
    held, error = reserve(platform, unique("co"), [(sku, 6)])
    assert error is None
    assert sorted(a["warehouse_id"] for a in held["allocations"]) == ["wh-a", "wh-b"]
    assert available(api, sku) == 1


def test_expired_reservations_are_released_by_the_sweep(api: Api, platform: LocalPlatform) -> None:
    sku = new_sku()
    stock(api, sku, 8)
    short, _ = reserve(platform, unique("co"), [(sku, 3)], hold_seconds=60)
    long, _ = reserve(platform, unique("co"), [(sku, 2)], hold_seconds=3600)
    os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = "120"  # two minutes pass
    try:
        swept = platform.functions.invoke(
            "SweepExpiredReservationsFunction", scheduled_event("sweep")
        )
    finally:
        os.environ.pop("SHOP_CLOCK_OFFSET_SECONDS")
    assert swept["released"] >= 1
    assert available(api, sku) == 6
    _, error = invoke(platform, "CommitStockFunction", {"checkout_id": short["checkout_id"]})
    assert error == "ReservationLapsed"
    _, error = invoke(platform, "CommitStockFunction", {"checkout_id": long["checkout_id"]})
    assert error is None


def test_stock_cannot_be_set_below_what_is_reserved(api: Api, platform: LocalPlatform) -> None:
    sku = new_sku()
    stock(api, sku, 5)
    reserve(platform, unique("co"), [(sku, 4)])
    response = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-test", "quantity": 3},
        user="alice",
        admin=True,
    )
    assert_error(response, 409, "BELOW_RESERVED")
    assert available(api, sku) == 1


def test_adjustments_need_an_idempotency_key_and_count_once(api: Api) -> None:
    sku = new_sku()
    stock(api, sku, 5)
    body = {"warehouse_id": "wh-test", "delta": -2, "reason": "damaged in transit"}
    assert_error(
        api.post(f"/admin/inventory/{sku}/adjustments", json=body, user="alice", admin=True),
        400,
        "BAD_REQUEST",
    )
    key = {"Idempotency-Key": unique("adj")}
    for _ in range(3):
        response = api.post(
            f"/admin/inventory/{sku}/adjustments", json=body, user="alice", admin=True, headers=key
        )
        assert response.status_code == 200, response.text
    assert available(api, sku) == 3
    too_much = {**body, "delta": -4}
    assert_error(
        api.post(
            f"/admin/inventory/{sku}/adjustments",
            json=too_much,
            user="alice",
            admin=True,
            headers={"Idempotency-Key": unique("adj")},
        ),
        409,
        "INSUFFICIENT_STOCK",
    )


def test_admins_list_held_reservations(api: Api, platform: LocalPlatform) -> None:
    sku, checkout = new_sku(), unique("co")
    stock(api, sku, 5)
    reserve(platform, checkout, [(sku, 1)])
    listed = api.get("/admin/reservations?limit=100", user="alice", admin=True).json()
    ids = {r["checkout_id"] for r in listed["items"]}
    while listed["cursor"]:
        listed = api.get(
            f"/admin/reservations?limit=100&cursor={listed['cursor']}", user="alice", admin=True
        ).json()
        ids |= {r["checkout_id"] for r in listed["items"]}
    assert checkout in ids
    assert_error(api.get("/admin/reservations", user="bob"), 403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"warehouse_id": "wh-test", "quantity": -1}, 422),
        ({"warehouse_id": "wh-test", "quantity": "3"}, 422),
        ({"warehouse_id": "wh-test", "quantity": 3.5}, 422),
        ({"warehouse_id": "WH TEST", "quantity": 3}, 422),
        ({"warehouse_id": "wh-test", "quantity": 3, "shards": 0}, 422),
        ({"warehouse_id": "wh-test", "quantity": 3, "colour": "red"}, 422),
        ({"quantity": 3}, 422),
    ],
)
def test_bad_stock_changes_are_refused_and_change_nothing(
    api: Api, body: dict[str, Any], status: int
) -> None:
    sku = new_sku()
    stock(api, sku, 9)
    response = api.put(f"/admin/inventory/{sku}", json=body, user="alice", admin=True)
    assert_error(response, status)
    assert available(api, sku) == 9


def test_unknown_skus_and_bad_task_input_are_refused(api: Api, platform: LocalPlatform) -> None:
    assert_error(api.get(f"/inventory/{new_sku()}"), 404, "SKU_NOT_STOCKED")
    for lines in ([], [{"sku": "X", "quantity": 0}], [{"sku": "X", "quantity": "1"}]):
        _, error = invoke(
            platform, "ReserveStockFunction", {"checkout_id": unique("co"), "lines": lines}
        )
        assert error == "ValidationFailed"


# ------------------------------------------------------------------------------------- races
@pytest.mark.crowd
@pytest.mark.parametrize("shards", [1, 8])
def test_200_concurrent_one_unit_reservations_against_50_units_succeed_exactly_50_times(
    api: Api, platform: LocalPlatform, shards: int
) -> None:
    sku = new_sku()
    stock(api, sku, 50, shards=shards)

    def attempt(i: int) -> str | None:
        return reserve(platform, unique(f"race{i}"), [(sku, 1)])[1]

    with ThreadPoolExecutor(max_workers=32) as pool:
        errors = list(pool.map(attempt, range(200)))
    assert errors.count(None) == 50
    assert set(errors) == {None, "OutOfStock"}
    assert available(api, sku) == 0


def test_a_sharded_sku_is_not_sold_out_while_any_shard_has_stock(
    api: Api, platform: LocalPlatform
) -> None:
    sku = new_sku()
    stock(api, sku, 10, shards=5)  # 2 per shard
    held, error = reserve(platform, unique("co"), [(sku, 9)])  # needs five shards
    assert error is None
    assert len(held["allocations"]) == 5
    _, error = reserve(platform, unique("co"), [(sku, 1)])
    assert error is None
    assert available(api, sku) == 0


def test_overlapping_multi_line_reservations_never_leave_a_partial_reservation(
    api: Api, platform: LocalPlatform
) -> None:
    a, b, c = new_sku(), new_sku(), new_sku()
    for sku in (a, b, c):
        stock(api, sku, 10)
    baskets = [[(a, 2), (b, 1)], [(b, 2), (c, 1)], [(c, 2), (a, 1)]]
    checkouts = [unique(f"ov{i}") for i in range(60)]

    def attempt(i: int) -> tuple[str, str | None]:
        return checkouts[i], reserve(platform, checkouts[i], baskets[i % 3])[1]

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(attempt, range(60)))
    held = dict.fromkeys((a, b, c), 0)
    for checkout, error in outcomes:
        basket = baskets[checkouts.index(checkout) % 3]
        if error is None:
            for sku, qty in basket:
                held[sku] += qty
        else:
            assert error == "OutOfStock"
    for sku in (a, b, c):
        assert 10 - available(api, sku) == held[sku]
        assert held[sku] <= 10
