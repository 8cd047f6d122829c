"""Cart rules (the DynamoDB side is shop.cart.repository).

`owner` is `user#<sub>` or `guest#<sha256 of the cart token>` (the token itself is never
stored). Every change is one conditional write or transaction on the line and the META item:
adding increments the line atomically (no read-modify-write that could drop a concurrent add),
and the META item's `line_count` enforces the 100-line limit under concurrency.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from itertools import batched
from typing import Any

from shop.cart.models import (
    GUEST_IDLE_SECONDS,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    Cart,
    CartLine,
    LineChange,
)
from shop.cart.repository import CartRepository
from shop.catalog.service import KnownSkus, get_skus_or_last_known, sellable_sku
from shop.clock import iso_now, now
from shop.config import cart_table
from shop.dynamo import TRANSACTION_ITEM_LIMIT
from shop.errors import (
    CartFull,
    CartMerged,
    CartNotFound,
    LineNotFound,
    QuantityLimit,
    Throttled,
)
from shop.money import Money

MAX_ATTEMPTS = 6


def repository() -> CartRepository:
    return CartRepository(cart_table())


def user_owner(user_id: str) -> str:
    return f"user#{user_id}"


def guest_owner(token: str) -> str:
    return "guest#" + hashlib.sha256(token.encode()).hexdigest()[:40]


def _is_guest(owner: str) -> bool:
    return owner.startswith("guest#")


def _guest_until(owner: str) -> int | None:
    """A guest cart lives until GUEST_IDLE_SECONDS after its last change; a user's forever."""
    return math.ceil(now() + GUEST_IDLE_SECONDS) if _is_guest(owner) else None


def _touch_meta(owner: str, *, line_delta: int = 0, guard_limit: bool = False) -> dict[str, Any]:
    """The META update every change carries: activity time, guests' expiry, the line count
    (kept under MAX_LINES by changes that add a line)."""
    return repository().touch_meta(
        owner,
        guest_until=_guest_until(owner),
        line_delta=line_delta,
        limit=MAX_LINES if guard_limit else None,
    )


def _transact(writes: list[dict[str, Any]]) -> list[str] | None:
    return repository().transact(writes)


# ----------------------------------------------------------------------------- reading
def _read(owner: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    return repository().read(owner)


def _require_usable(owner: str, meta: dict[str, Any] | None) -> None:
    if _is_guest(owner) and (meta is None or meta.get("expires_at", 0) < now()):
        raise CartNotFound("no such guest cart (it may have expired)")
    if meta is not None and meta.get("merged_into"):
        raise CartMerged("this guest cart was merged into a signed-in cart")


def get_cart(owner: str) -> Cart:
    meta, lines = _read(owner)
    _require_usable(owner, meta)
    return _view(meta, lines)


def _view(meta: dict[str, Any] | None, lines: list[dict[str, Any]]) -> Cart:
    """The cart re-priced from the catalog, so the shopper sees changes before checkout (or,
    the catalog unavailable, from its last known prices, marked with their age)."""
    known = get_skus_or_last_known([line["sku"] for line in lines]) if lines else KnownSkus({})
    catalog = known.records
    view: list[CartLine] = []
    totals: dict[str, int] = {}
    for line in sorted(lines, key=lambda li: li["added_at"]):
        record = catalog.get(line["sku"])
        unit = Money.model_validate(line["unit_price"])
        available = record is not None and record.sellable
        current = record.price if record is not None else None
        view.append(
            CartLine(
                sku=line["sku"],
                name=record.name if record else line.get("name", line["sku"]),
                quantity=line["quantity"],
                unit_price=unit,
                current_price=current,
                price_changed=current is not None and current != unit,
                available=available,
            )
        )
        if available and current is not None:
            totals[current.currency] = (
                totals.get(current.currency, 0) + current.amount * line["quantity"]
            )
    return Cart(
        lines=view,
        line_count=len(view),
        item_count=sum(line.quantity for line in view),
        totals=[Money(amount=a, currency=c) for c, a in sorted(totals.items())],
        needs_review=any(line.price_changed or not line.available for line in view),
        updated_at=meta.get("updated_at") if meta else None,
        degraded=known.read_at is not None,
        price_age_seconds=None if known.read_at is None else int(now() - known.read_at),
    )


# ----------------------------------------------------------------------------- changing
def create_guest_cart() -> tuple[str, Cart]:
    token = secrets.token_urlsafe(32)
    owner = guest_owner(token)
    repository().create_guest(owner, math.ceil(now() + GUEST_IDLE_SECONDS))
    return token, get_cart(owner)


def add_item(owner: str, sku: str, quantity: int, *, correlation_id: str = "") -> LineChange:
    record = sellable_sku(sku)
    repo = repository()
    for _ in range(MAX_ATTEMPTS):
        new_line = repo.new_line(
            owner,
            {
                "sku": sku,
                "product_id": record.product_id,
                "name": record.name,
                "quantity": quantity,
                "unit_price": record.price.model_dump(),
                "added_at": iso_now(),
                "correlation_id": correlation_id,
            },
        )
        codes = _transact([new_line, _touch_meta(owner, line_delta=1, guard_limit=True)])
        if codes is None:
            return _line_change(owner, sku)
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] != "ConditionalCheckFailed":
            continue  # a transaction conflict: try again
        # The line exists: add to it, atomically, within the per-line limit.
        more = repo.add_to_line(
            owner,
            sku,
            quantity,
            most=MAX_LINE_QUANTITY,
            product_id=record.product_id,
            correlation_id=correlation_id,
        )
        codes = _transact([more, _touch_meta(owner)])
        if codes is None:
            return _line_change(owner, sku)
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] == "ConditionalCheckFailed" and _line_quantity(owner, sku) is not None:
            raise QuantityLimit(
                f"a cart line holds at most {MAX_LINE_QUANTITY}",
                details={"sku": sku, "in_cart": _line_quantity(owner, sku)},
            )
    raise Throttled("the cart is changing too fast; retry")


def _line_change(owner: str, sku: str) -> LineChange:
    line_count = repository().line_count(owner)
    return LineChange(sku=sku, quantity=_line_quantity(owner, sku) or 0, line_count=line_count)


def _line_quantity(owner: str, sku: str) -> int | None:
    return repository().line_quantity(owner, sku)


def _explain_meta_refusal(owner: str) -> None:
    meta, _ = _read(owner)
    _require_usable(owner, meta)
    if meta is not None and meta.get("line_count", 0) >= MAX_LINES:
        raise CartFull(f"a cart holds at most {MAX_LINES} lines")


def set_quantity(owner: str, sku: str, quantity: int) -> LineChange:
    line = repository().set_line(owner, sku, quantity)
    codes = _transact([line, _touch_meta(owner)])
    if codes is not None:
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] == "ConditionalCheckFailed":
            raise LineNotFound(f"{sku} is not in the cart")
        raise Throttled("the cart is changing too fast; retry")
    return _line_change(owner, sku)


def remove_item(owner: str, sku: str) -> LineChange:
    """Remove a line; removing a line that is not there changes nothing."""
    line = repository().remove_line(owner, sku)
    codes = _transact([line, _touch_meta(owner, line_delta=-1)])
    if codes is not None and codes[1] == "ConditionalCheckFailed":
        _explain_meta_refusal(owner)
    return _line_change(owner, sku)


def remove_purchased(owner: str, purchased: dict[str, int]) -> int:
    """After a checkout: take the bought quantities off their lines (a line added to during
    the checkout keeps the difference) and return how many lines the cart has left.

    One transaction of every line's write and the META update, each line conditioned on what
    the read found (a line still no larger than what was bought is deleted, a larger one
    loses the bought quantity): a line the shopper changes meanwhile cancels it, and the next
    attempt reads again. Repeating it is harmless only with the same snapshot id, so the saga
    calls it once per checkout through its own idempotent step."""
    repo = repository()
    pending = dict(purchased)
    for _ in range(MAX_ATTEMPTS):
        _, lines = repo.read(owner)
        plan = [
            (line["sku"], line["quantity"] <= pending[line["sku"]])
            for line in lines
            if line["sku"] in pending
        ]
        left = len(lines)
        for chunk in batched(plan, _LINE_WRITES_PER_TRANSACTION, strict=False):
            writes = [
                repo.remove_bought_line(owner, sku, pending[sku])
                if removes
                else repo.take_bought(owner, sku, pending[sku])
                for sku, removes in chunk
            ]
            removed = sum(removes for _, removes in chunk)
            if repo.transact([*writes, _touch_meta(owner, line_delta=-removed)]) is not None:
                break  # a line changed since the read: read again
            for sku, _ in chunk:
                del pending[sku]  # done: a later attempt must not take it off twice
            left -= removed
        else:
            return left
    raise Throttled("the cart is changing too fast; retry")


_LINE_WRITES_PER_TRANSACTION = TRANSACTION_ITEM_LIMIT - 1  # and the META update


# ----------------------------------------------------------------------------- merging
def merge_guest_cart(token: str, user_id: str) -> Cart:
    """Fold a guest cart into the user's, exactly once: quantities add up (to the line limit),
    new lines join while the cart has room, and the guest cart is marked merged in the same
    transaction, so a repeated or concurrent merge cannot count twice."""
    guest, user = guest_owner(token), user_owner(user_id)
    repo = repository()
    for _ in range(MAX_ATTEMPTS):
        guest_meta, guest_lines = repo.read(guest)
        if guest_meta is not None and guest_meta.get("merged_into") == user:
            return get_cart(user)  # done before: the repeat is harmless
        _require_usable(guest, guest_meta)
        user_meta, user_lines = repo.read(user)
        mine = {line["sku"]: line for line in user_lines}
        count = len(user_lines)
        writes: list[dict[str, Any]] = [repo.mark_merged(guest, user)]
        added = 0
        for line in sorted(guest_lines, key=lambda li: li["added_at"])[: MAX_LINES - 2]:
            existing = mine.get(line["sku"])
            if existing is not None:
                total = min(existing["quantity"] + line["quantity"], MAX_LINE_QUANTITY)
                if total == existing["quantity"]:
                    continue
                writes.append(
                    repo.set_seen_line(user, line["sku"], total, seen=existing["quantity"])
                )
            elif count + added < MAX_LINES:
                added += 1
                writes.append(repo.new_line(user, line))
        # The user's line count must be what we read, or our room calculation is stale.
        meta = repo.touch_meta(
            user,
            guest_until=_guest_until(user),
            line_delta=added,
            seen_line_count=user_meta.get("line_count", 0) if user_meta else 0,
        )
        if repo.transact([*writes, meta]) is None:
            return get_cart(user)
    raise Throttled("the carts are changing too fast; retry the merge")


# ----------------------------------------------------------------------------- expiry
def expire_guest_carts() -> int:
    """Delete guest carts idle for 30 days. DynamoDB's TTL would get there too, but up to days
    late (and moto never), and a shopper would see a cart that should be gone."""
    repo = repository()
    expired = 0
    for owner in repo.idle_guests(math.floor(now())):
        # Only if still idle: activity since the query moved expires_at forward.
        if not repo.delete_if_idle(owner, math.floor(now())):
            continue
        _, lines = repo.read(owner)
        for line in lines:
            repo.delete_line(owner, line["sku"])
        expired += 1
    return expired


# ----------------------------------------------------------------------------- data protection
def stored_lines(user_id: str) -> list[dict[str, Any]]:
    """The signed-in shopper's cart lines as the table keeps them (what an export shows: no
    re-pricing, so no catalog read)."""
    _, lines = _read(user_owner(user_id))
    return [
        {
            "sku": line["sku"],
            "quantity": int(line["quantity"]),
            "unit_price": line["unit_price"],
            "added_at": line.get("added_at"),
        }
        for line in sorted(lines, key=lambda li: str(li.get("added_at", "")))
    ]


def forget_cart(user_id: str) -> int:
    """The shopper's cart deleted (an erasure): how many items went, 0 on a repeat."""
    return repository().forget(user_owner(user_id))
