"""Flash sales in DynamoDB: one item per sale, one per ticket.

    pk = SALE#<sale_id>      sk = SALE    the terms, and the standing the workers keep:
                                          allocated, sold, waitlisted, waiting, decided, won,
                                          lost, expired, version; `active` (sparse
                                          ActiveSalesIndex) until the sale is settled
    pk = TICKET#<ticket_id>  sk = TICKET  one shopper's entry: quantity, state, position;
                                          `hold_sale` + `hold_expires_at` while a win waits for
                                          its checkout (HoldsIndex), `waitlist_sale` +
                                          `position` while it waits for a lapsed win
                                          (WaitlistIndex); `queued_sale` +
                                          `accepted_at_ms` until it is decided
                                          (UndecidedIndex)

ShopperTicketsIndex (user_id, accepted_at_ms), KEYS_ONLY, lists a shopper's tickets (an
account export); only tickets carry `user_id`.

Each ticket is its own partition, so a crowd entering writes a thousand partitions, not one;
only the workers (as many as the queue's MaximumConcurrency) write the sale's item. The one
index every entry writes, UndecidedIndex, is keyed by the sale and one of UNDECIDED_SHARDS
shards of it, so a crowd spreads over that many index partitions too.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Literal

from shop.dynamo import (
    batch_get,
    put_new,
    query_all,
    query_page,
    read_item,
    transact,
    update_if,
    update_write,
)

ACTIVE = "ACTIVE"
UNDECIDED_SHARDS = 16  # index partitions per sale for undecided tickets (each takes ~1,000/s)
# QUEUED: in the queue; WAITLISTED: decided to wait for a lapsed win (shown as QUEUED);
# PURCHASED: a win checked out (shown as WON, with its order).
TicketState = Literal["QUEUED", "WAITLISTED", "WON", "PURCHASED", "LOST", "EXPIRED"]
Placement = Literal["WON", "WAITLISTED", "LOST"]


def sale_key(sale_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SALE#{sale_id}"}, "sk": {"S": "SALE"}}


def ticket_key(ticket_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}}


@dataclass
class Standing:
    """How a sale stands: what its workers decide from and write back, whole, on its version.

    `allocated` units are won (held for a checkout, or bought); `waitlisted` units are asked
    by tickets waiting in case a win lapses, never more than the wins still open could give
    back (`allocated - sold`), so a shopper is told LOST as soon as they cannot win."""

    quantity: int
    allocated: int = 0
    sold: int = 0
    waitlisted: int = 0
    waiting: int = 0  # tickets on the waitlist
    decided: int = 0  # tickets given a place in line
    won: int = 0
    lost: int = 0
    expired: int = 0
    version: int = 0

    @classmethod
    def of(cls, sale: dict[str, Any]) -> Standing:
        return cls(**{name: int(sale.get(name, 0)) for name in cls.__dataclass_fields__})

    @property
    def free(self) -> int:
        return self.quantity - self.allocated

    @property
    def open_wins(self) -> int:
        return self.allocated - self.sold

    def place(self, units: int) -> Placement:
        """The next ticket in line: a win if its units are free, else the waitlist if the open
        wins could still give them back, else lost."""
        self.decided += 1
        if units <= self.free:
            self.allocated += units
            self.won += 1
            return "WON"
        if self.waitlisted + units <= self.open_wins:
            self.waitlisted += units
            self.waiting += 1
            return "WAITLISTED"
        self.lost += 1
        return "LOST"


class FlashSalesRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # ------------------------------------------------------------------------- sales
    def create_sale(self, item: dict[str, Any]) -> bool:
        return put_new(self.table_name, {"pk": f"SALE#{item['sale_id']}", "sk": "SALE", **item})

    def sale(self, sale_id: str, *, consistent: bool = True) -> dict[str, Any] | None:
        return read_item(self.table_name, sale_key(sale_id), consistent=consistent)

    def save_standing(self, sale_id: str, standing: Standing) -> dict[str, Any]:
        """The write of a sale's new standing, if nobody changed it since it was read."""
        fields = {k: v for k, v in asdict(standing).items() if k not in ("quantity", "version")}
        sets = ", ".join(f"#{k} = :{k}" for k in fields)
        return update_write(
            sale_key(sale_id),
            f"SET {sets}, #ver = :next",
            condition="#ver = :v",
            names={**{f"#{k}": k for k in fields}, "#ver": "version"},
            values={
                **{f":{k}": v for k, v in fields.items()},
                ":v": standing.version,
                ":next": standing.version + 1,
            },
        )

    def count_sold(self, sale_id: str, units: int) -> dict[str, Any]:
        """Units bought: unconditional, and the version moves, so a worker deciding from the
        standing before it reads again."""
        return update_write(
            sale_key(sale_id),
            "ADD sold :q, #ver :one",
            names={"#ver": "version"},
            values={":q": units, ":one": 1},
        )

    def settle(self, sale_id: str, version: int, at: str) -> bool:
        """Close an active sale, if nobody changed its standing since it was read."""
        return (
            update_if(
                self.table_name,
                sale_key(sale_id),
                "SET settled_at = :at, #ver = :next REMOVE #act",
                condition="attribute_exists(#act) AND #ver = :v",
                names={"#act": "active", "#ver": "version"},
                values={":at": at, ":v": version, ":next": version + 1},
            )
            is not None
        )

    def active_sales(self) -> list[str]:
        items, _ = query_page(
            self.table_name,
            "#act = :a",
            {":a": ACTIVE},
            index="ActiveSalesIndex",
            names={"#act": "active"},
        )
        return [str(item["sale_id"]) for item in items]

    # ------------------------------------------------------------------------- tickets
    def enter(self, item: dict[str, Any]) -> bool:
        """A new ticket, undecided; False when the shopper already holds one for the sale."""
        shard = int(hashlib.sha256(item["ticket_id"].encode()).hexdigest(), 16) % UNDECIDED_SHARDS
        return put_new(
            self.table_name,
            {
                "pk": f"TICKET#{item['ticket_id']}",
                "sk": "TICKET",
                "queued_sale": f"{item['sale_id']}#{shard}",
                **item,
            },
        )

    def undecided(self, sale_id: str, accepted_before_ms: int, limit: int) -> list[dict[str, Any]]:
        """The sale's tickets still undecided that were accepted before the time given, the
        earliest first (up to `limit` of each shard)."""
        found: list[dict[str, Any]] = []
        for shard in range(UNDECIDED_SHARDS):
            items, _ = query_page(
                self.table_name,
                "queued_sale = :s AND accepted_at_ms < :t",
                {":s": f"{sale_id}#{shard}", ":t": accepted_before_ms},
                index="UndecidedIndex",
                limit=limit,
            )
            found += items
        return sorted(found, key=lambda t: (int(t["accepted_at_ms"]), str(t["ticket_id"])))

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        return read_item(self.table_name, ticket_key(ticket_id))

    def tickets_of(self, user_id: str) -> list[dict[str, Any]]:
        """Every ticket of the shopper, oldest first."""
        keys = [
            ticket_key(str(item["pk"]).removeprefix("TICKET#"))
            for item in query_all(
                self.table_name, "user_id = :u", {":u": user_id}, index="ShopperTicketsIndex"
            )
        ]
        found = batch_get(self.table_name, keys, consistent=True)
        return sorted(found, key=lambda t: int(t["accepted_at_ms"]))

    def tickets(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        found = batch_get(
            self.table_name, [ticket_key(t) for t in dict.fromkeys(ticket_ids)], consistent=True
        )
        return {str(item["ticket_id"]): item for item in found}

    def place(
        self,
        ticket_id: str,
        placement: Placement,
        *,
        sale_id: str,
        position: int,
        at: str,
        hold_expires_at: int,
    ) -> dict[str, Any]:
        """A queued ticket's decision (once: the condition is on QUEUED)."""
        sets = "SET #s = :state, #p = :p, decided_at = :at"
        values: dict[str, Any] = {":state": placement, ":p": position, ":at": at, ":q": "QUEUED"}
        if placement == "WON":
            sets += ", hold_sale = :sale, hold_expires_at = :h"
            values.update({":sale": sale_id, ":h": hold_expires_at})
        elif placement == "WAITLISTED":
            sets += ", waitlist_sale = :sale"
            values[":sale"] = sale_id
        return update_write(
            ticket_key(ticket_id),
            f"{sets} REMOVE queued_sale",
            condition="#s = :q",
            names={"#s": "state", "#p": "position"},
            values=values,
        )

    def promote(self, ticket_id: str, *, at: str, hold_expires_at: int) -> dict[str, Any]:
        """A waitlisted ticket wins the units of a lapsed win."""
        return update_write(
            ticket_key(ticket_id),
            "SET #s = :won, decided_at = :at, hold_sale = waitlist_sale, hold_expires_at = :h "
            "REMOVE waitlist_sale",
            condition="#s = :w",
            names={"#s": "state"},
            values={":won": "WON", ":w": "WAITLISTED", ":at": at, ":h": hold_expires_at},
        )

    def drop_from_waitlist(self, ticket_id: str, at: str) -> dict[str, Any]:
        return update_write(
            ticket_key(ticket_id),
            "SET #s = :lost, decided_at = :at REMOVE waitlist_sale",
            condition="#s = :w",
            names={"#s": "state"},
            values={":lost": "LOST", ":w": "WAITLISTED", ":at": at},
        )

    def expire(self, ticket_id: str, at: str) -> dict[str, Any]:
        """A win whose hold lapsed with no checkout under way."""
        return update_write(
            ticket_key(ticket_id),
            "SET #s = :expired, expired_at = :at REMOVE hold_sale",
            condition="#s = :won AND attribute_not_exists(checkout_id)",
            names={"#s": "state"},
            values={":expired": "EXPIRED", ":won": "WON", ":at": at},
        )

    def purchase(self, ticket_id: str, checkout_id: str, order_id: str) -> dict[str, Any]:
        return update_write(
            ticket_key(ticket_id),
            "SET #s = :bought, order_id = :o REMOVE hold_sale",
            condition="#s = :won AND checkout_id = :c",
            names={"#s": "state"},
            values={":bought": "PURCHASED", ":won": "WON", ":c": checkout_id, ":o": order_id},
        )

    def claim(
        self, ticket_id: str, checkout_id: str, *, replacing: str | None, now_epoch: int
    ) -> dict[str, Any] | None:
        """Tie a won ticket to a checkout while its hold lasts: the ticket after, or None when
        it was not won, lapsed, or another checkout holds it."""
        condition = "#s = :won AND hold_expires_at > :now AND "
        values: dict[str, Any] = {":won": "WON", ":now": now_epoch, ":c": checkout_id}
        if replacing is None:
            condition += "(attribute_not_exists(checkout_id) OR checkout_id = :c)"
        else:
            condition += "checkout_id = :old"
            values[":old"] = replacing
        return update_if(
            self.table_name,
            ticket_key(ticket_id),
            "SET checkout_id = :c, claimed_at = :now",
            condition=condition,
            names={"#s": "state"},
            values=values,
        )

    def unclaim(self, ticket_id: str, checkout_id: str) -> None:
        """The checkout failed: the win is free for another attempt while its hold lasts."""
        update_if(
            self.table_name,
            ticket_key(ticket_id),
            "REMOVE checkout_id",
            condition="#s = :won AND checkout_id = :c",
            names={"#s": "state"},
            values={":won": "WON", ":c": checkout_id},
        )

    def lapsed_holds(self, sale_id: str, before: int, limit: int = 50) -> list[dict[str, Any]]:
        items, _ = query_page(
            self.table_name,
            "hold_sale = :s AND hold_expires_at < :t",
            {":s": sale_id, ":t": before},
            index="HoldsIndex",
            limit=limit,
        )
        return items

    def waitlist(self, sale_id: str, *, last_first: bool, limit: int = 10) -> list[dict[str, Any]]:
        items, _ = query_page(
            self.table_name,
            "waitlist_sale = :s",
            {":s": sale_id},
            index="WaitlistIndex",
            newest_first=last_first,
            limit=limit,
        )
        return items

    def transact(self, writes: list[dict[str, Any]]) -> list[str] | None:
        return transact(writes, table=self.table_name)
