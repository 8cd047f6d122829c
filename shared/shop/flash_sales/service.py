"""Flash sale rules: setting units aside, taking entries, deciding them in line, holding wins
for checkout, and giving lapsed wins to the next in line.

The path a crowd hits is tiny: an entry is one conditional put of the shopper's own ticket
(its id is derived from sale and shopper, so a repeat finds it) and one message on the entry
queue; the sale's terms come from an in-function cache. Nothing on it reads or writes a shared
item. Workers drain the queue at the template's MaximumConcurrency and decide each batch in
acceptance order in one transaction with the sale's standing, on its version: a ticket is
decided once (its condition is QUEUED), a batch twice delivered decides nothing twice, and no
more units are won than the sale has.

The sale's units are a reservation in inventory (`hold_id`), taken from the SKU's stock when
the sale is created: a winner's checkout takes its units from it (they stay reserved), a
failed checkout gives them back, and when the sale is over what is left goes back to stock.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from shop import aws, faults
from shop.cache import TtlCache
from shop.catalog import service as catalog
from shop.checkout.repository import CheckoutRepository
from shop.clock import iso_at, iso_now, now
from shop.config import checkout_table, flash_sale_entries_queue, flash_sales_table
from shop.errors import (
    FlashSaleNotFound,
    IdempotencyKeyReused,
    QuantityLimit,
    SaleNotOpen,
    Throttled,
    TicketInCheckout,
    TicketNotFound,
    TicketNotWon,
)
from shop.events import DomainEvent, queue_message
from shop.flash_sales.events import FlashSaleEntered
from shop.flash_sales.models import (
    EntryAccepted,
    FlashSaleList,
    FlashSaleView,
    NewFlashSale,
    SaleStatus,
    TicketStatus,
    TicketView,
    epoch,
)
from shop.flash_sales.repository import ACTIVE, FlashSalesRepository, Placement, Standing
from shop.inventory import service as inventory
from shop.inventory.models import ReservationLine, ReserveRequest
from shop.observability import get_logger

MAX_ATTEMPTS = 8  # optimistic retries when another worker changed the sale's standing first
STATUS_CACHE_SECONDS = 1.0  # GET /flash-sales/{id}: a crowd polling reads one item a second
# Cache-Control of a sale's status and of the list: the same for everyone, and as fresh as the
# function's own cache, so a CDN may keep them as long.
STATUS_CACHE_CONTROL = f"public, max-age={int(STATUS_CACHE_SECONDS)}"
# An entry still undecided this long after it was accepted is decided by the sweep: its
# message went to the DLQ, or the queue is far behind (deciding the earliest first keeps the
# line fair either way; a decision is conditional, so a late message changes nothing).
UNDECIDED_SWEEP_SECONDS = 300
UNDECIDED_SWEEP_MAX = 500  # tickets per sale per sweep
HOLD_GRACE_SECONDS = 24 * 3600  # inventory keeps the set-aside this long past the last hold
_SHOWN: dict[str, TicketStatus] = {"WAITLISTED": "QUEUED", "PURCHASED": "WON"}

logger = get_logger("flash_sales")


def repository() -> FlashSalesRepository:
    return FlashSalesRepository(flash_sales_table())


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def ticket_id_for(sale_id: str, user_id: str) -> str:
    """One ticket per shopper per sale: the id says which."""
    return f"tk-{_digest(sale_id, user_id)}"


def hold_id_for(sale_id: str) -> str:
    """The inventory reservation that keeps the sale's units."""
    return f"flash-{sale_id}"


def _back_off(attempt: int) -> None:
    """A jittered pause before reading a contended sale again, so retries spread out."""
    time.sleep(random.uniform(0, min(0.2, 0.01 * 2**attempt)))


# ----------------------------------------------------------------------------- the admin
def create_sale(draft: NewFlashSale, admin_id: str, idempotency_key: str | None) -> FlashSaleView:
    """Set the units aside (all of them, or OutOfStock and nothing), then record the sale. A
    repeat with the same Idempotency-Key finds the same sale, and its hold."""
    sale_id = "fs-" + (_digest(admin_id, idempotency_key) if idempotency_key else uuid.uuid4().hex)
    repo = repository()
    terms = draft.model_dump()
    existing = repo.sale(sale_id)
    if existing is None:
        product = catalog.sellable_sku(draft.sku)
        ends = epoch(draft.ends_at)
        inventory.reserve(
            ReserveRequest(
                checkout_id=hold_id_for(sale_id),
                lines=[ReservationLine(sku=draft.sku, quantity=draft.quantity)],
            ),
            expires_at=math.ceil(ends + draft.hold_seconds + HOLD_GRACE_SECONDS),
        )
        item = {
            "sale_id": sale_id,
            **terms,
            "starts_epoch": math.floor(epoch(draft.starts_at)),
            "ends_epoch": math.floor(ends),
            "hold_id": hold_id_for(sale_id),
            # What the sale sells, as shoppers will see it (the catalog's name at creation).
            "product_id": product.product_id,
            "name": product.name,
            "created_by": admin_id,
            "created_at": iso_now(),
            "active": ACTIVE,
            "version": 0,
        }
        repo.create_sale(item)
        existing = repo.sale(sale_id)
        assert existing is not None
    if {k: existing.get(k) for k in terms} != terms:
        raise IdempotencyKeyReused("this Idempotency-Key created another sale")
    return _view(existing)


# ----------------------------------------------------------------------------- anyone
_terms_cache: dict[str, dict[str, Any]] = {}
_status_cache: TtlCache[str, FlashSaleView] = TtlCache()
_current_cache: TtlCache[str, list[str]] = TtlCache()
_backlog_cache: list[float] = [0.0, 0.0]  # (read at, entries waiting in the queue)


def _terms(sale_id: str) -> dict[str, Any]:
    """A sale's terms never change once it is created: read once per function instance."""
    terms = _terms_cache.get(sale_id)
    if terms is None:
        terms = repository().sale(sale_id, consistent=False)
        if terms is None:
            raise FlashSaleNotFound(f"no flash sale {sale_id}")
        _terms_cache[sale_id] = terms
    return terms


def sale_status(sale: dict[str, Any], at: float) -> SaleStatus:
    if at < float(sale["starts_epoch"]):
        return "SCHEDULED"
    if at >= float(sale["ends_epoch"]):
        return "ENDED"
    return "SOLD_OUT" if Standing.of(sale).free <= 0 else "OPEN"


def _backlog() -> int:
    """Entries in the queue not yet decided, as SQS counts them (approximately; all sales)."""
    read_at, count = _backlog_cache
    if time.monotonic() - read_at > STATUS_CACHE_SECONDS:
        attributes = aws.client("sqs").get_queue_attributes(
            QueueUrl=flash_sale_entries_queue(),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        count = float(sum(int(v) for v in attributes.values()))
        _backlog_cache[:] = [time.monotonic(), count]
    return int(count)


def _view(sale: dict[str, Any], backlog: int = 0) -> FlashSaleView:
    standing = Standing.of(sale)
    status = sale_status(sale, now())
    return FlashSaleView(
        **{k: sale[k] for k in NewFlashSale.model_fields},
        sale_id=sale["sale_id"],
        status=status,
        remaining=max(standing.free, 0),
        queued=standing.waiting + (backlog if status != "SCHEDULED" else 0),
        sold=standing.sold,
        created_at=sale["created_at"],
        product_id=sale.get("product_id"),
        name=sale.get("name", ""),
    )


def get_sale(sale_id: str) -> FlashSaleView:
    """The sale as it stood at most a second ago: a crowd polling it reads one item a second
    per function instance, never a hot item."""

    def read() -> FlashSaleView:
        sale = repository().sale(sale_id, consistent=False)
        if sale is None:
            raise FlashSaleNotFound(f"no flash sale {sale_id}")
        return _view(sale, _backlog())

    return _status_cache.get(sale_id, STATUS_CACHE_SECONDS, read)


def current_sales() -> FlashSaleList:
    """Every sale not yet ended, from the index of active sales (as fresh as each sale's
    status: a second), so a storefront can show what is coming and what is open."""
    views = []
    for sale_id in _current_cache.get("active", STATUS_CACHE_SECONDS, repository().active_sales):
        with contextlib.suppress(FlashSaleNotFound):  # gone between the index and the read
            views.append(get_sale(sale_id))
    shown = [view for view in views if view.status != "ENDED"]
    return FlashSaleList(items=sorted(shown, key=lambda view: (view.starts_at, view.sale_id)))


# ----------------------------------------------------------------------------- shoppers
def enter(sale_id: str, user_id: str, quantity: int, correlation_id: str) -> EntryAccepted:
    """The accept path: the shopper's ticket, durable before the answer, and its message on
    the entry queue. A repeat returns the same ticket (and sends its message again while it
    is undecided: a decision is conditional, so a second message changes nothing)."""
    terms = _terms(sale_id)
    at = now()
    if not float(terms["starts_epoch"]) <= at < float(terms["ends_epoch"]):
        raise SaleNotOpen(
            "entries are taken while the sale is open",
            details={"starts_at": terms["starts_at"], "ends_at": terms["ends_at"]},
        )
    if quantity > int(terms["per_customer_limit"]):
        raise QuantityLimit(
            f"at most {terms['per_customer_limit']} per shopper in this sale",
            details={"per_customer_limit": terms["per_customer_limit"]},
        )
    repo = repository()
    ticket: dict[str, Any] = {
        "ticket_id": ticket_id_for(sale_id, user_id),
        "sale_id": sale_id,
        "user_id": user_id,
        "quantity": quantity,
        "state": "QUEUED",
        "accepted_at": iso_at(at),
        "accepted_at_ms": int(at * 1000),
        "correlation_id": correlation_id,
    }
    if not repo.enter(ticket):
        existing = repo.ticket(ticket["ticket_id"])
        assert existing is not None
        ticket = existing
    if ticket["state"] == "QUEUED":
        _send(ticket)
    view = ticket_view(ticket)
    return EntryAccepted(ticket_id=view.ticket_id, status=view.status, position=view.position)


def _entered(ticket: dict[str, Any]) -> FlashSaleEntered:
    return FlashSaleEntered(
        sale_id=ticket["sale_id"],
        ticket_id=ticket["ticket_id"],
        quantity=int(ticket["quantity"]),
        accepted_at_ms=int(ticket["accepted_at_ms"]),
    )


def _send(ticket: dict[str, Any]) -> None:
    event = DomainEvent.of(
        _entered(ticket),
        event_id=f"FlashSaleEntered:{ticket['ticket_id']}",
        occurred_at=str(ticket["accepted_at"]),
        correlation_id=str(ticket.get("correlation_id", "")),
    )
    aws.client("sqs").send_message(
        QueueUrl=flash_sale_entries_queue(), MessageBody=queue_message(event)
    )


def ticket_view(ticket: dict[str, Any]) -> TicketView:
    hold = ticket.get("hold_expires_at")
    return TicketView(
        ticket_id=ticket["ticket_id"],
        sale_id=ticket["sale_id"],
        status=_SHOWN.get(ticket["state"], ticket["state"]),
        quantity=int(ticket["quantity"]),
        position=ticket.get("position"),
        accepted_at=ticket["accepted_at"],
        decided_at=ticket.get("decided_at"),
        hold_expires_at=iso_at(hold) if hold is not None and ticket["state"] == "WON" else None,
        checkout_id=ticket.get("checkout_id"),
        order_id=ticket.get("order_id"),
    )


def tickets_of(user_id: str) -> list[TicketView]:
    """Every flash sale ticket of the shopper (an account export). Tickets hold no personal
    field, only the user id: an erasure keeps them, the sales' own books."""
    return [ticket_view(ticket) for ticket in repository().tickets_of(user_id)]


def get_ticket(sale_id: str, ticket_id: str, user_id: str) -> dict[str, Any]:
    ticket = repository().ticket(ticket_id)
    if ticket is None or ticket["user_id"] != user_id or ticket["sale_id"] != sale_id:
        raise TicketNotFound(f"no ticket {ticket_id} of yours in this sale")
    return ticket


# ----------------------------------------------------------------------------- the workers
def decide_entries(entries: Iterable[FlashSaleEntered]) -> None:
    """A batch from the entry queue, decided sale by sale in acceptance order."""
    faults.before("decide_entries")  # tests: every delivery fails, and the entries go to the DLQ
    by_sale: dict[str, list[FlashSaleEntered]] = defaultdict(list)
    for entry in entries:
        by_sale[entry.sale_id].append(entry)
    for sale_id, group in by_sale.items():
        _decide(sale_id, sorted(group, key=lambda e: (e.accepted_at_ms, e.ticket_id)))


def _decide(sale_id: str, entries: list[FlashSaleEntered]) -> None:
    repo = repository()
    for attempt in range(MAX_ATTEMPTS):
        sale = repo.sale(sale_id)
        if sale is None:
            logger.error("entries for an unknown sale dropped", extra={"sale_id": sale_id})
            return
        tickets = repo.tickets([e.ticket_id for e in entries])
        queued = [tickets[e.ticket_id] for e in entries if e.ticket_id in tickets]
        queued = [t for t in queued if t["state"] == "QUEUED"]
        if not queued:
            return  # a repeat: all of them were decided
        standing = Standing.of(sale)
        at = now()
        settled = "active" not in sale
        writes = []
        for ticket in queued:
            units = int(ticket["quantity"])
            placement: Placement
            if settled:  # the sale's units went back to stock: nothing left to win
                standing.decided += 1
                standing.lost += 1
                placement = "LOST"
            else:
                placement = standing.place(units)
            writes.append(
                repo.place(
                    ticket["ticket_id"],
                    placement,
                    sale_id=sale_id,
                    position=standing.decided,
                    at=iso_at(at),
                    hold_expires_at=math.ceil(at + int(sale["hold_seconds"])),
                )
            )
        if repo.transact([repo.save_standing(sale_id, standing), *writes]) is None:
            return
        _back_off(attempt)
    raise Throttled(f"the standing of sale {sale_id} is changing too fast; retry")


# ----------------------------------------------------------------------------- checkout
def claim_for_checkout(
    ticket_id: str, user_id: str, checkout_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tie a won ticket to a checkout while its hold lasts: (the sale's terms, the ticket). A
    checkout that failed, or never started, leaves the ticket to the next attempt."""
    repo = repository()
    ticket = repo.ticket(ticket_id)
    if ticket is None or ticket["user_id"] != user_id:
        raise TicketNotFound(f"no ticket {ticket_id} of yours")
    holder = ticket.get("checkout_id")
    if ticket["state"] == "PURCHASED" and holder == checkout_id:
        return _terms(ticket["sale_id"]), ticket
    if ticket["state"] != "WON":
        raise TicketNotWon(
            f"the ticket is {_SHOWN.get(ticket['state'], ticket['state'])}",
            details={"status": _SHOWN.get(ticket["state"], ticket["state"])},
        )
    replacing = None
    if holder not in (None, checkout_id):
        record = _checkout(holder)
        status = None if record is None else record["status"]
        if record is not None and status == "SUCCEEDED":  # bought; the ticket was not told
            checkout_finished(ticket_id, holder, record.get("order_id"))
            raise TicketNotWon("the win was bought", details={"status": "WON"})
        if status == "PENDING" or (status is None and _claimed_lately(ticket)):
            # A claim with no checkout record yet is a request still on its way to write it.
            raise TicketInCheckout("another checkout of this ticket is under way")
        replacing = holder
    if repo.claim(ticket_id, checkout_id, replacing=replacing, now_epoch=math.floor(now())) is None:
        raise TicketNotWon("the win's hold has lapsed", details={"status": "EXPIRED"})
    return _terms(ticket["sale_id"]), ticket


def checkout_finished(ticket_id: str, checkout_id: str, order_id: str | None) -> None:
    """The saga's outcome for a won ticket: bought (the sale counts it sold; the waitlist
    shrinks to what open wins could still give back), or not (the ticket is free for another
    attempt while its hold lasts; its units are back in the sale's hold already)."""
    repo = repository()
    ticket = repo.ticket(ticket_id)
    if ticket is None or ticket.get("checkout_id") != checkout_id:
        return
    if order_id is None:
        repo.unclaim(ticket_id, checkout_id)
        return
    for attempt in range(MAX_ATTEMPTS):
        if ticket is None or ticket["state"] != "WON":
            break  # counted already (a repeat)
        writes = [
            repo.purchase(ticket_id, checkout_id, order_id),
            repo.count_sold(ticket["sale_id"], int(ticket["quantity"])),
        ]
        if repo.transact(writes) is None:
            break
        _back_off(attempt)  # a worker changed the sale's standing meanwhile: again
        ticket = repo.ticket(ticket_id)
    else:
        raise Throttled("the sale is changing too fast to count this purchase; retry")
    if ticket is None:
        return
    # Fewer open wins could lapse now: whoever on the waitlist can no longer win is told.
    _trim_waitlist(ticket["sale_id"])


CLAIM_GRACE_SECONDS = 60  # longer than any request between its claim and its checkout record


def _claimed_lately(ticket: dict[str, Any]) -> bool:
    return float(ticket.get("claimed_at", 0)) > now() - CLAIM_GRACE_SECONDS


def _checkout(checkout_id: str) -> dict[str, Any] | None:
    """The checkout record a ticket's claim names (None: not written, or never will be)."""
    return CheckoutRepository(checkout_table()).get(checkout_id)


# ----------------------------------------------------------------------------- the sweep
def tend_sales() -> int:
    """Every active sale tended (the schedule's job): how many."""
    sales = repository().active_sales()
    for sale_id in sales:
        try:
            tend_sale(sale_id)
        except Throttled:  # one busy sale must not hold back the others
            logger.warning("flash sale busy: the next sweep goes on", extra={"sale_id": sale_id})
    return len(sales)


def tend_sale(sale_id: str) -> None:
    """Entries the queue did not decide in time are decided; lapsed wins expire and their
    units go to the next in line; the waitlist is cut to what open wins could still give
    back; an ended sale with nothing undecided and no open win is settled."""
    _decide_stragglers(sale_id)
    _expire_lapsed_holds(sale_id)
    _promote_waitlisted(sale_id)
    _trim_waitlist(sale_id)
    _settle_if_over(sale_id)


def _change(sale_id: str, change: Any) -> None:
    """Apply `change(sale, standing) -> writes | None` with the sale's new standing, on its
    version, until it commits or has nothing left to do."""
    repo = repository()
    conflicts = 0
    while conflicts < MAX_ATTEMPTS:
        sale = repo.sale(sale_id)
        if sale is None:
            return
        standing = Standing.of(sale)
        writes = change(sale, standing)
        if not writes:
            return
        if repo.transact([repo.save_standing(sale_id, standing), *writes]) is not None:
            _back_off(conflicts)  # a worker or a checkout moved it first: read again
            conflicts += 1
    raise Throttled(f"sale {sale_id} is changing too fast; the next sweep goes on")


def _decide_stragglers(sale_id: str) -> int:
    """Decide, earliest first, the entries accepted UNDECIDED_SWEEP_SECONDS ago or more that
    are still undecided: every accepted ticket ends WON or LOST. How many were decided."""
    repo = repository()
    cutoff_ms = int((now() - UNDECIDED_SWEEP_SECONDS) * 1000)
    decided = 0
    while decided < UNDECIDED_SWEEP_MAX:
        stragglers = repo.undecided(sale_id, cutoff_ms, limit=10)[:10]
        if not stragglers:
            break
        logger.warning(
            "flash sale entries undecided past their time: decided by the sweep",
            extra={"sale_id": sale_id, "tickets": len(stragglers)},
        )
        _decide(sale_id, [_entered(t) for t in stragglers])
        decided += len(stragglers)
    return decided


def _expire_lapsed_holds(sale_id: str) -> None:
    repo = repository()
    for ticket in repo.lapsed_holds(sale_id, math.floor(now())):
        holder = ticket.get("checkout_id")
        if holder is not None:
            record = _checkout(holder)
            status = None if record is None else record["status"]
            if status == "PENDING" or (status is None and _claimed_lately(ticket)):
                continue  # its saga (or the request about to start it) settles it
            if record is not None and status == "SUCCEEDED":  # its outcome was not recorded
                checkout_finished(ticket["ticket_id"], holder, record.get("order_id"))
                continue
            repo.unclaim(ticket["ticket_id"], holder)

        def expire(_: dict[str, Any], standing: Standing, t: dict[str, Any] = ticket) -> Any:
            current = repo.ticket(t["ticket_id"])
            if current is None or current["state"] != "WON" or "checkout_id" in current:
                return None
            standing.allocated -= int(t["quantity"])
            standing.expired += 1
            return [repo.expire(t["ticket_id"], iso_now())]

        _change(sale_id, expire)


def _promote_waitlisted(sale_id: str) -> None:
    repo = repository()

    def promote(sale: dict[str, Any], standing: Standing) -> Any:
        # After the end too: whoever was in line before it keeps their place.
        if standing.free <= 0 or standing.waiting <= 0:
            return None
        for ticket in repo.waitlist(sale_id, last_first=False):
            units = int(ticket["quantity"])
            if units <= standing.free:  # the first in line whose units are free
                standing.allocated += units
                standing.won += 1
                standing.waitlisted -= units
                standing.waiting -= 1
                hold = math.ceil(now() + int(sale["hold_seconds"]))
                return [repo.promote(ticket["ticket_id"], at=iso_now(), hold_expires_at=hold)]
        return None

    _change(sale_id, promote)


def _trim_waitlist(sale_id: str) -> None:
    repo = repository()

    def trim(sale: dict[str, Any], standing: Standing) -> Any:
        if standing.waiting <= 0 or standing.waitlisted <= standing.open_wins:
            return None
        last = repo.waitlist(sale_id, last_first=True, limit=1)
        if not last:
            return None
        units = int(last[0]["quantity"])
        standing.waitlisted -= units
        standing.waiting -= 1
        standing.lost += 1
        return [repo.drop_from_waitlist(last[0]["ticket_id"], iso_now())]

    _change(sale_id, trim)


def _settle_if_over(sale_id: str) -> None:
    """Once the sale has ended and every win is bought or lapsed, its unsold units go back
    to stock."""
    repo = repository()
    sale = repo.sale(sale_id)
    if sale is None or "active" not in sale or now() < float(sale["ends_epoch"]):
        return
    standing = Standing.of(sale)
    if standing.open_wins > 0 or standing.waiting > 0:
        return
    if repo.undecided(sale_id, int(now() * 1000) + 1, limit=1):
        return  # entries accepted before the end are decided first (by the queue or the sweep)
    # Closed first, on the version read (a late entry decided meanwhile wins nothing more: a
    # closed sale's entries are lost); then the units go back. Dying between the two leaves
    # them in the hold until it expires, when inventory's own sweep gives them back.
    if repo.settle(sale_id, standing.version, iso_now()):
        inventory.release(sale["hold_id"])
        logger.info("flash sale settled", extra={"sale_id": sale_id, "sold": standing.sold})
