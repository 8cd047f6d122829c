"""Flash sale tests' shared steps: a sale opened by an admin, a crowd entering it, winners
checking out, and the invariants a sale must leave behind."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from checkout_support import ADDRESS

from helpers import Api, unique
from shop.clock import now
from shop.flash_sales.service import hold_id_for, repository
from shop.inventory.audit import audit
from shop.inventory.service import get_reservation, stock_levels

SALE_PRICE = 499


def moment(offset_seconds: float) -> str:
    """A moment `offset_seconds` from the platform's now, as the API takes it."""
    at = datetime.fromtimestamp(now() + offset_seconds, UTC)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def sale_terms(sku: str, quantity: int, **overrides: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "quantity": quantity,
        "price": {"amount": SALE_PRICE, "currency": "GBP"},
        "starts_at": moment(-60),
        "ends_at": moment(3600),
        "per_customer_limit": 1,
        "hold_seconds": 600,
        **overrides,
    }


def open_sale(api: Api, sku: str, quantity: int, **overrides: Any) -> dict[str, Any]:
    created = api.post(
        "/admin/flash-sales", json=sale_terms(sku, quantity, **overrides), user="admin", admin=True
    )
    assert created.status_code == 201, created.text
    sale: dict[str, Any] = created.json()
    return sale


def enter(api: Api, sale_id: str, user: str, quantity: int = 1) -> dict[str, Any]:
    response = api.post(
        f"/flash-sales/{sale_id}/entries",
        json={"quantity": quantity},
        user=user,
        headers={"Idempotency-Key": unique("entry")},
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def crowd_enters(api: Api, sale_id: str, shoppers: list[str]) -> dict[str, dict[str, Any]]:
    """Every shopper enters at once (released together by a barrier): their tickets."""
    barrier = threading.Barrier(len(shoppers))

    def one(user: str) -> dict[str, Any]:
        barrier.wait()
        return enter(api, sale_id, user)

    with ThreadPoolExecutor(max_workers=len(shoppers)) as pool:
        tickets = list(pool.map(one, shoppers))
    return dict(zip(shoppers, tickets, strict=True))


def ticket(api: Api, sale_id: str, user: str, ticket_id: str) -> dict[str, Any]:
    response = api.get(f"/flash-sales/{sale_id}/entries/{ticket_id}", user=user)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def all_tickets(api: Api, sale_id: str, tickets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=32) as pool:
        views = pool.map(
            lambda kv: ticket(api, sale_id, kv[0], kv[1]["ticket_id"]), tickets.items()
        )
        return dict(zip(tickets, views, strict=True))


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout}s for {what}")
        time.sleep(0.25)


def wait_until_decided(sale_id: str, entries: int, timeout: float = 120) -> dict[str, Any]:
    """The sale's standing once every one of `entries` tickets has a place in line."""

    def decided() -> bool:
        sale = repository().sale(sale_id)
        return sale is not None and int(sale.get("decided", 0)) >= entries

    wait_until(decided, f"{entries} entries decided", timeout)
    sale = repository().sale(sale_id)
    assert sale is not None
    return sale


def try_to_buy(
    api: Api, user: str, ticket_id: str, payment_method: str = "pm_card_visa"
) -> requests.Response:
    """POST /checkout for a won ticket, under a new Idempotency-Key."""
    return api.post(
        "/checkout",
        json={
            "flash_sale_ticket_id": ticket_id,
            "payment_method": payment_method,
            "shipping_address": ADDRESS,
        },
        user=user,
        headers={"Idempotency-Key": unique("key")},
    )


def buy(api: Api, user: str, ticket_id: str, payment_method: str = "pm_card_visa") -> str:
    response = try_to_buy(api, user, ticket_id, payment_method)
    assert response.status_code == 202, response.text
    checkout_id: str = response.json()["checkout_id"]
    return checkout_id


def statuses(views: dict[str, dict[str, Any]]) -> Counter[str]:
    return Counter(view["status"] for view in views.values())


def assert_sale_agrees_with_stock(sale_id: str, sku: str, on_hand_before: int) -> None:
    """What the sale says it sold left the warehouse, what it still keeps is reserved in its
    hold, and the ledger re-derives every stock item."""
    sale = repository().sale(sale_id)
    assert sale is not None
    sold = int(sale.get("sold", 0))
    on_hand = sum(level.on_hand for level in stock_levels(sku))
    assert on_hand == on_hand_before - sold
    hold = get_reservation(hold_id_for(sale_id))
    assert hold is not None
    kept = sum(a.quantity for a in hold.allocations)
    if hold.status == "HELD":
        assert kept <= int(sale["quantity"]) - sold
    assert int(sale["allocated"]) <= int(sale["quantity"])
    assert audit() == []
