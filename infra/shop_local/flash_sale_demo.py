"""`shop flash-sale-demo`: the case study's defining moment, played against a running platform
over its public API, as its shoppers would.

An admin opens a sale of `units` units of a mug (a product of its own, stocked for the demo,
so the demo catalog's stock is left as it is); `shoppers` shoppers enter at once; every entry
is decided; the winners check out at the sale price, all at once; everyone else is told they
lost. Then the invariants: exactly `units` won and bought, one order each, the rest LOST, stock
down by exactly what was sold, and the inventory ledger agreeing with stock.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from shop.inventory.audit import audit
from shop.inventory.service import stock_levels
from shop_local.auth import LocalIdentityProvider

FULL_PRICE, SALE_PRICE = 1999, 499
EXTRA_STOCK = 10  # units of the SKU outside the sale, which the sale must not touch
ADDRESS = {
    "name": "Flash Fan",
    "line1": "1 Queue Lane",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
}


@dataclass
class Outcome:
    """What the demo saw; `problems` is empty when every invariant held."""

    sale_id: str = ""
    sku: str = ""
    entered: int = 0
    accept_ms_p50: float = 0.0
    won: int = 0
    bought: int = 0
    lost: int = 0
    stock_before: int = 0
    stock_after: int = 0
    problems: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


class Shopper:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.session = requests.Session()

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> requests.Response:
        return self.session.request(
            method,
            self.url + path,
            json=body,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": key or uuid.uuid4().hex,
            },
            timeout=120,
        )

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The answer to one request, asked again with the same Idempotency-Key (as a
        storefront would) while the platform says "not now": a throttle, a dependency's slow
        moment, a function that ran past its timeout on a busy machine."""
        key = uuid.uuid4().hex
        for attempt in range(RETRIES + 1):
            response = self.call(method, path, body, key)
            if response.status_code not in RETRIED or attempt == RETRIES:
                break
            time.sleep(float(response.headers.get("Retry-After", 2**attempt)))
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


RETRIES = 4
RETRIED = (429, 502, 503, 504)  # answers that mean "again in a moment"


def moment(offset_seconds: float) -> str:
    """A moment `offset_seconds` from now, as the API takes it."""
    at = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def mug(sku: str) -> dict[str, Any]:
    """The product a flash sale sells (POST /admin/products), one variant at FULL_PRICE."""
    return {
        "name": "Flash sale mug",
        "description": "An enamel mug, on sale for ten minutes only.",
        "category": "kitchen-and-dining",
        "images": ["https://images.example.com/flash-mug.jpg"],
        "variants": [
            {
                "sku": sku,
                "attributes": {"colour": "red"},
                "price": {"amount": FULL_PRICE, "currency": "GBP"},
            }
        ],
    }


def _until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.5)


def _on_hand(sku: str) -> int:
    return sum(level.on_hand for level in stock_levels(sku))


def run(url: str, identity: LocalIdentityProvider, units: int, shoppers: int) -> Outcome:
    """The scenario, end to end; the process must be attached to the platform (its stock and
    ledger are read directly, as `shop check-inventory` reads them)."""
    outcome = Outcome()
    say = outcome.steps.append
    run_id = uuid.uuid4().hex[:8]
    admin = Shopper(url, identity.issue(f"flash-admin-{run_id}", admin=True))
    sku = outcome.sku = f"FLASH-MUG-{run_id.upper()}"
    admin.ok("POST", "/admin/products", mug(sku))
    admin.ok(
        "PUT",
        f"/admin/inventory/{sku}",
        {"warehouse_id": "wh-london", "quantity": units + EXTRA_STOCK},
    )
    outcome.stock_before = _on_hand(sku)
    sale = admin.ok(
        "POST",
        "/admin/flash-sales",
        {
            "sku": sku,
            "quantity": units,
            "price": {"amount": SALE_PRICE, "currency": "GBP"},
            "starts_at": moment(-5),
            "ends_at": moment(600),
            "per_customer_limit": 1,
            "hold_seconds": 300,
        },
    )
    sale_id = outcome.sale_id = sale["sale_id"]
    say(
        f"an admin opened flash sale {sale_id}: {units} units of {sku} "
        f"at £{SALE_PRICE / 100:.2f} (was £{FULL_PRICE / 100:.2f})"
    )

    crowd = [Shopper(url, identity.issue(f"flash-fan-{run_id}-{i}")) for i in range(shoppers)]
    barrier = threading.Barrier(shoppers)
    latencies: list[float] = []

    def enter(shopper: Shopper) -> str:
        barrier.wait()
        sent = time.perf_counter()
        accepted = shopper.ok("POST", f"/flash-sales/{sale_id}/entries", {"quantity": 1})
        latencies.append((time.perf_counter() - sent) * 1000)
        return str(accepted["ticket_id"])

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=shoppers) as pool:
        tickets = list(pool.map(enter, crowd))
    outcome.entered = len(set(tickets))
    outcome.accept_ms_p50 = statistics.median(latencies)
    say(
        f"{shoppers} shoppers entered at once: {outcome.entered} tickets in "
        f"{time.monotonic() - began:.1f}s (accept p50 {outcome.accept_ms_p50:.0f} ms)"
    )

    def states() -> Counter[str]:
        with ThreadPoolExecutor(max_workers=32) as pool:
            views = pool.map(
                lambda st: st[0].ok("GET", f"/flash-sales/{sale_id}/entries/{st[1]}"),
                zip(crowd, tickets, strict=True),
            )
            seen = list(views)
        by_ticket.update({v["ticket_id"]: v for v in seen})
        return Counter(v["status"] for v in seen)

    by_ticket: dict[str, Any] = {}

    def all_decided() -> bool:
        return states()["WON"] == units and all(
            v["position"] is not None for v in by_ticket.values()
        )

    _until(all_decided, "every entry decided", timeout=300)
    waiting = states()["QUEUED"]
    say(
        f"decided in {time.monotonic() - began:.1f}s: {units} won, "
        f"{shoppers - units - waiting} told LOST at once, {waiting} waiting in case a win lapses"
    )

    winners = [
        (s, t) for s, t in zip(crowd, tickets, strict=True) if by_ticket[t]["status"] == "WON"
    ]

    def buy(winner: tuple[Shopper, str]) -> dict[str, Any]:
        shopper, ticket_id = winner
        started = shopper.ok(
            "POST",
            "/checkout",
            {
                "flash_sale_ticket_id": ticket_id,
                "payment_method": "pm_card_visa",
                "shipping_address": ADDRESS,
            },
        )
        while True:
            view: dict[str, Any] = shopper.ok("GET", f"/checkout/{started['checkout_id']}")
            if view["status"] != "PENDING":
                return view
            time.sleep(0.5)

    with ThreadPoolExecutor(max_workers=max(1, len(winners))) as pool:
        checkouts = list(pool.map(buy, winners))
    outcome.bought = sum(1 for c in checkouts if c["status"] == "SUCCEEDED")
    prices = Counter(
        line["unit_price"]["amount"] for c in checkouts for line in c["lines"] if line["sku"] == sku
    )
    say(f"the winners checked out at once: {outcome.bought} orders, unit prices {dict(prices)}")

    _until(lambda: states()["LOST"] == shoppers - units, "everyone else told LOST", timeout=120)
    final = states()
    outcome.won, outcome.lost = final["WON"], final["LOST"]
    outcome.stock_after = _on_hand(sku)
    problems = audit()
    say(
        f"in the end: {outcome.won} won, {outcome.lost} lost; stock of {sku} "
        f"{outcome.stock_before} -> {outcome.stock_after}; inventory ledger: "
        + ("agrees" if not problems else f"{len(problems)} problems")
    )

    expected = {
        "tickets, one per shopper": (outcome.entered, shoppers),
        "winners": (outcome.won, units),
        "orders": (outcome.bought, units),
        "told LOST": (outcome.lost, shoppers - units),
        "stock after": (outcome.stock_after, outcome.stock_before - units),
    }
    outcome.problems = [
        f"{what}: {got}, expected {want}" for what, (got, want) in expected.items() if got != want
    ]
    if set(prices) != {SALE_PRICE}:
        outcome.problems.append(f"bought at {sorted(prices)}, not only at the sale price")
    positions = sorted(int(v["position"]) for v in by_ticket.values())
    if positions != list(range(1, shoppers + 1)):
        outcome.problems.append("places in line are not 1..N, each given once")
    outcome.problems += [str(p) for p in problems]
    return outcome
