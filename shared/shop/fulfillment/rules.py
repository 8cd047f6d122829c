"""Fulfillment's rules, without I/O: how an order splits into shipments, what its status is
given its shipments and returns, what may still be returned and where it goes back to."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from shop.fulfillment.models import (
    RANK,
    RETURN_WINDOW_DAYS,
    SHIPPED_RANK,
    Line,
    Return,
    StoredShipment,
)
from shop.inventory.models import Allocation
from shop.money import Money
from shop.orders.models import OrderLine


def by_warehouse(allocations: Iterable[Allocation]) -> dict[str, list[Allocation]]:
    """A checkout's allocations grouped by the warehouse they were reserved in: one shipment
    each, sent from where the units really are."""
    grouped: dict[str, list[Allocation]] = defaultdict(list)
    for a in allocations:
        grouped[a.warehouse_id].append(a)
    return dict(sorted(grouped.items()))


def lines_of(allocations: Iterable[Allocation]) -> list[Line]:
    totals: Counter[str] = Counter()
    for a in allocations:
        totals[a.sku] += a.quantity
    return [Line(sku=sku, quantity=q) for sku, q in sorted(totals.items())]


def units(lines: Iterable[Line]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for line in lines:
        counted[line.sku] += line.quantity
    return counted


def value_of(lines: Iterable[Line], ordered: Sequence[OrderLine], currency: str) -> Money:
    """What `lines` cost the customer, at the order's prices."""
    price = {line.sku: line.unit_price.amount for line in ordered}
    return Money(amount=sum(price[line.sku] * line.quantity for line in lines), currency=currency)


def order_status(
    placed_status: str, shipments: Sequence[StoredShipment], returns: Sequence[Return]
) -> str:
    """The order's status once it is placed, from its shipments and returns."""
    if placed_status == "CANCELLED":
        return "CANCELLED"
    live = [s for s in shipments if s.status != "CANCELLED"]
    if shipments and not live:
        return "CANCELLED"
    if not live:
        return placed_status
    taken_back = sum(
        # A stalled return was received (its refund is what stalled): its units are back.
        units(r.lines).total()
        for r in returns
        if r.status in ("RECEIVED", "REFUNDED", "STALLED")
    )
    if taken_back:
        sent = sum(units(s.lines).total() for s in live)
        return "RETURNED" if taken_back >= sent else "PARTIALLY_RETURNED"
    if all(s.status == "DELIVERED" for s in live):
        return "DELIVERED"
    shipped = [s for s in live if RANK[s.status] >= SHIPPED_RANK]
    if len(shipped) == len(live):
        return "SHIPPED"
    return "PARTIALLY_SHIPPED" if shipped else "PLACED"


def within_window(delivered_at: str | None, now: float) -> bool:
    if delivered_at is None:
        return False
    delivered = datetime.fromisoformat(delivered_at.replace("Z", "+00:00")).timestamp()
    return now - delivered <= RETURN_WINDOW_DAYS * 24 * 3600


def returnable(
    shipments: Sequence[StoredShipment], returns: Sequence[Return], now: float
) -> Counter[str]:
    """Units per SKU the customer may still return: delivered within the return window, less
    what earlier returns (whatever their state) already claim."""
    delivered: Counter[str] = Counter()
    for s in shipments:
        if s.status == "DELIVERED" and within_window(s.delivered_at, now):
            delivered += units(s.lines)
    claimed: Counter[str] = Counter()
    for r in returns:
        claimed += units(r.lines)
    return delivered - claimed


def return_allocations(
    lines: Sequence[Line],
    shipments: Sequence[StoredShipment],
    earlier: Iterable[Sequence[Allocation]],
) -> list[Allocation]:
    """Where returned units go back to: the stock items their delivered shipments took them
    from, past what earlier returns already sent back there. Assumes `lines` is returnable."""
    taken: Counter[tuple[str, str, int]] = Counter()
    for allocations in earlier:
        for a in allocations:
            taken[(a.sku, a.warehouse_id, a.shard)] += a.quantity
    wanted = units(lines)
    placed: list[Allocation] = []
    for s in shipments:
        if s.status != "DELIVERED":
            continue
        for a in s.allocations:
            place = (a.sku, a.warehouse_id, a.shard)
            room = a.quantity - taken[place]
            take = min(room, wanted[a.sku])
            if take > 0:
                placed.append(a.model_copy(update={"quantity": take}))
                taken[place] += take
                wanted[a.sku] -= take
    return placed
