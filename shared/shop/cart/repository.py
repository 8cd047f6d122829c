"""Carts in DynamoDB: one partition per cart.

    pk = CART#<owner>  sk = META          line_count, updated_at; guests: expires_at, merged_into
    pk = CART#<owner>  sk = LINE#<sku>    quantity, the price when added

Guest carts' META items also carry `expiry_bucket` and `expires_at`, the keys of the sparse
GuestExpiryIndex the expiry sweep reads, and `ttl`, a week later, for DynamoDB's TTL to collect
leftovers. The rules in shop.cart.service compose the writes below into transactions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from shop.clock import iso_now, now
from shop.dynamo import (
    delete_if,
    delete_item,
    delete_write,
    put_new,
    put_write,
    query_all,
    read_item,
    transact,
    update_write,
)
from shop.errors import ShopError

GUEST_BUCKET = "GUEST"  # the partition of the guest-expiry index
_TTL_AFTER_EXPIRY_SECONDS = 7 * 24 * 3600  # TTL only collects leftovers


def _pk(owner: str) -> str:
    return f"CART#{owner}"


def meta_key(owner: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(owner)}, "sk": {"S": "META"}}


def line_key(owner: str, sku: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(owner)}, "sk": {"S": f"LINE#{sku}"}}


class CartRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # ------------------------------------------------------------------------- reading
    def read(self, owner: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The cart's META item (None if it has none) and its lines, strongly consistent."""
        items = list(query_all(self.table_name, "pk = :pk", {":pk": _pk(owner)}, consistent=True))
        meta = next((i for i in items if i["sk"] == "META"), None)
        return meta, [i for i in items if i["sk"].startswith("LINE#")]

    def forget(self, owner: str) -> int:
        """Delete the cart, META and lines, item by item (each delete is idempotent, so a
        retry after a crash deletes what is left). Returns how many items it deleted."""
        items = list(query_all(self.table_name, "pk = :pk", {":pk": _pk(owner)}, consistent=True))
        for item in items:
            delete_item(self.table_name, {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}})
        return len(items)

    def line_count(self, owner: str) -> int:
        meta = read_item(self.table_name, meta_key(owner))
        return int(meta.get("line_count", 0)) if meta else 0

    def line_quantity(self, owner: str, sku: str) -> int | None:
        line = read_item(self.table_name, line_key(owner, sku))
        return int(line["quantity"]) if line else None

    def idle_guests(self, before: int) -> Iterator[str]:
        """The owners of guest carts idle since before `before` (epoch seconds)."""
        for item in query_all(
            self.table_name,
            "expiry_bucket = :g AND expires_at < :now",
            {":g": GUEST_BUCKET, ":now": before},
            index="GuestExpiryIndex",
        ):
            yield str(item["pk"]).removeprefix("CART#")

    # ------------------------------------------------------------------------- writing
    def create_guest(self, owner: str, expires_at: int) -> None:
        put_new(
            self.table_name,
            {
                "pk": _pk(owner),
                "sk": "META",
                "owner": owner,
                "line_count": 0,
                "updated_at": iso_now(),
                "expiry_bucket": GUEST_BUCKET,
                "expires_at": expires_at,
                "ttl": expires_at + _TTL_AFTER_EXPIRY_SECONDS,
            },
            taken=ShopError("a new guest cart's token is already in use"),  # 256 random bits
        )

    def delete_if_idle(self, owner: str, before: int) -> bool:
        """Delete a guest cart's META item if it is still idle (activity since moved its
        `expires_at` forward): whether it did."""
        return delete_if(
            self.table_name,
            meta_key(owner),
            condition="expires_at < :now",
            values={":now": before},
        )

    def delete_line(self, owner: str, sku: str) -> None:
        delete_item(self.table_name, line_key(owner, sku))

    def transact(self, writes: list[dict[str, Any]]) -> list[str] | None:
        """None when the transaction committed, else its cancellation codes."""
        return transact(writes, table=self.table_name)

    # ------------------------------------------------------------------------- transaction writes
    def touch_meta(
        self,
        owner: str,
        *,
        guest_until: int | None,
        line_delta: int = 0,
        limit: int | None = None,
        seen_line_count: int | None = None,
    ) -> dict[str, Any]:
        """The META update every change carries: activity time, a guest's new expiry
        (`guest_until`; a guest cart must exist and not be past its old one), the line count
        moved by `line_delta`, kept under `limit`, or required to be `seen_line_count`."""
        sets = ["updated_at = :now", "#o = :owner"]
        values: dict[str, Any] = {":now": iso_now(), ":owner": owner}
        names = {"#o": "owner"}
        conditions = ["attribute_not_exists(merged_into)"]
        if guest_until is not None:
            sets += ["expires_at = :exp", "#ttl = :ttl"]
            names["#ttl"] = "ttl"
            values[":exp"] = guest_until
            values[":ttl"] = guest_until + _TTL_AFTER_EXPIRY_SECONDS
            conditions.append("attribute_exists(pk) AND expires_at >= :now_s")
            values[":now_s"] = math.floor(now())
        if line_delta:
            sets.append("line_count = if_not_exists(line_count, :zero) + :delta")
            values[":zero"] = 0
            values[":delta"] = line_delta
        if limit is not None:
            conditions.append("(attribute_not_exists(line_count) OR line_count < :max)")
            values[":max"] = limit
        if seen_line_count is not None:
            conditions.append("(attribute_not_exists(line_count) OR line_count = :seen_count)")
            values[":seen_count"] = seen_line_count
        return update_write(
            meta_key(owner),
            "SET " + ", ".join(sets),
            condition=" AND ".join(conditions),
            names=names,
            values=values,
        )

    def new_line(self, owner: str, line: dict[str, Any]) -> dict[str, Any]:
        """Put a line (plain: sku, name, quantity, unit_price, added_at) the cart lacks."""
        item = {**line, "pk": _pk(owner), "sk": f"LINE#{line['sku']}"}
        return put_write(item, condition="attribute_not_exists(pk)")

    def add_to_line(
        self,
        owner: str,
        sku: str,
        quantity: int,
        *,
        most: int,
        product_id: str,
        correlation_id: str = "",
    ) -> dict[str, Any]:
        """Add `quantity` to an existing line, atomically, if the total stays within `most`; the
        line keeps this request's correlation id and its product (lines from before carts
        held it gain it), which its CartItemAdded carries."""
        return update_write(
            line_key(owner, sku),
            "SET quantity = quantity + :q, correlation_id = :c, "
            "product_id = if_not_exists(product_id, :p)",
            condition="attribute_exists(pk) AND quantity <= :room",
            values={
                ":q": quantity,
                ":room": most - quantity,
                ":c": correlation_id,
                ":p": product_id,
            },
        )

    def set_line(self, owner: str, sku: str, quantity: int) -> dict[str, Any]:
        return update_write(
            line_key(owner, sku),
            "SET quantity = :q",
            condition="attribute_exists(pk)",
            values={":q": quantity},
        )

    def set_seen_line(self, owner: str, sku: str, quantity: int, *, seen: int) -> dict[str, Any]:
        """Set a line's quantity, if it still is the `seen` one."""
        return update_write(
            line_key(owner, sku),
            "SET quantity = :total",
            condition="quantity = :seen",
            values={":total": quantity, ":seen": seen},
        )

    def remove_line(self, owner: str, sku: str) -> dict[str, Any]:
        return delete_write(line_key(owner, sku), condition="attribute_exists(pk)")

    def remove_bought_line(self, owner: str, sku: str, bought: int) -> dict[str, Any]:
        """Remove a line that holds no more than was bought."""
        return delete_write(
            line_key(owner, sku), condition="quantity <= :bought", values={":bought": bought}
        )

    def take_bought(self, owner: str, sku: str, bought: int) -> dict[str, Any]:
        """Take `bought` off a line that still holds more than that."""
        return update_write(
            line_key(owner, sku),
            "SET quantity = quantity - :bought",
            condition="quantity > :bought",
            values={":bought": bought},
        )

    def mark_merged(self, guest: str, user: str) -> dict[str, Any]:
        """The guest cart is merged into `user`'s, once."""
        return update_write(
            meta_key(guest),
            "SET merged_into = :user, updated_at = :now",
            condition="attribute_exists(pk) AND attribute_not_exists(merged_into)",
            values={":user": user, ":now": iso_now()},
        )
