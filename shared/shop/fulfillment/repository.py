"""Fulfillment in DynamoDB: one partition per order, so an order's shipments, returns and
cancellations are read together, consistently, in one Query.

    pk = ORDER#<order_id>   sk = SUMMARY                  what was ordered and paid; the order's
                                                          status after PLACED and its history;
                                                          `version` (returns are decided on it)
    pk = ORDER#<order_id>   sk = SHIPMENT#<shipment_id>   one warehouse's part; `rank` only grows
    pk = ORDER#<order_id>   sk = RETURN#<return_id>       a return (a claim: restock + refund)
    pk = ORDER#<order_id>   sk = CANCEL#<cancellation_id> a cancellation (a claim too)
    pk = TRACKING#<carrier>#<tracking_number>             which shipment a carrier's number is

WarehouseShipmentsIndex (warehouse_id, queue_key = <status>#<created_at>) is the warehouse's
work list; only shipments carry those attributes. OpenClaimsIndex (open_claim, opened_at) holds
the claims whose refund is due and not settled, for the sweep that resumes them. The table's
stream is fulfillment's outbox.
"""

from __future__ import annotations

from typing import Any

from shop.dynamo import (
    batch_get,
    from_item,
    put_write,
    query_all,
    query_page,
    read_item,
    transact,
    update_if,
    update_write,
)
from shop.errors import CursorMismatch
from shop.fulfillment.models import RANK, StatusChange, StoredShipment
from shop.pagination import page_cursor, start_key

SUMMARY = "SUMMARY"
OPEN = "OPEN"  # open_claim's one value: OpenClaimsIndex holds only the claims carrying it
_QUEUE_KEYS = frozenset({"pk", "sk", "warehouse_id", "queue_key"})


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def key(order_id: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": order_pk(order_id)}, "sk": {"S": sk}}


def shipment_sk(shipment_id: str) -> str:
    return f"SHIPMENT#{shipment_id}"


def claim_sk(claim_id: str, kind: str) -> str:
    return f"{'RETURN' if kind == 'return' else 'CANCEL'}#{claim_id}"


def tracking_key(carrier: str, tracking_number: str) -> dict[str, Any]:
    return {"pk": {"S": f"TRACKING#{carrier}#{tracking_number}"}, "sk": {"S": "TRACKING"}}


def queue_key(status: str, created_at: str) -> str:
    return f"{status}#{created_at}"


class FulfillmentRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # ---------------------------------------------------------------------------- reading
    def order_items(self, order_id: str) -> list[dict[str, Any]]:
        """Everything fulfillment keeps of the order, strongly consistent."""
        return list(
            query_all(self.table_name, "pk = :pk", {":pk": order_pk(order_id)}, consistent=True)
        )

    def summary(self, order_id: str) -> dict[str, Any] | None:
        return read_item(self.table_name, key(order_id, SUMMARY))

    def summaries(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        items = batch_get(self.table_name, [key(o, SUMMARY) for o in order_ids])
        return {item["order_id"]: item for item in items}

    def item(self, order_id: str, sk: str) -> dict[str, Any] | None:
        return read_item(self.table_name, key(order_id, sk))

    def tracked(self, carrier: str, tracking_number: str) -> dict[str, Any] | None:
        return read_item(self.table_name, tracking_key(carrier, tracking_number))

    def warehouse_page(
        self, warehouse_id: str, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[StoredShipment], str | None]:
        start = start_key(cursor, keys=_QUEUE_KEYS)
        if start is not None and (
            start["warehouse_id"]["S"] != warehouse_id
            or (status is not None and not start["queue_key"]["S"].startswith(f"{status}#"))
        ):
            raise CursorMismatch("the cursor belongs to another listing")
        condition, values = "warehouse_id = :w", {":w": warehouse_id}
        if status is not None:
            condition += " AND begins_with(queue_key, :s)"
            values[":s"] = f"{status}#"
        items, last = query_page(
            self.table_name,
            condition,
            values,
            index="WarehouseShipmentsIndex",
            limit=limit,
            start=start,
        )
        return [StoredShipment.model_validate(i) for i in items], page_cursor(last)

    # ---------------------------------------------------------------------------- writes
    def put_new(self, order_id: str, sk: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A transaction's write of a new item of the order (refused if it exists)."""
        item = {"pk": order_pk(order_id), "sk": sk, **fields}
        return self._in_table(put_write(item, condition="attribute_not_exists(pk)"))

    def shipment_item(self, shipment: StoredShipment) -> dict[str, Any]:
        return {
            **shipment.model_dump(),
            "rank": RANK[shipment.status],
            "queue_key": queue_key(shipment.status, shipment.created_at),
        }

    def move_shipment(
        self,
        shipment: StoredShipment,
        change: StatusChange,
        *,
        allowed: str,
        values: dict[str, Any] | None = None,
        extra: str = "",
    ) -> dict[str, Any]:
        """A transaction's write moving a shipment to `change.status`, appending `change` to its
        history, if `allowed` (a condition on its #status and #rank) holds."""
        return self._in_table(
            update_write(
                key(shipment.order_id, shipment_sk(shipment.shipment_id)),
                "SET #status = :to, #rank = :rank, queue_key = :queue, updated_at = :at, "
                "history = list_append(history, :h)" + extra,
                condition=allowed,
                names={"#status": "status", "#rank": "rank"},
                values={
                    ":to": change.status,
                    ":rank": RANK[change.status],
                    ":queue": queue_key(change.status, shipment.created_at),
                    ":at": change.at,
                    ":h": [change.model_dump()],
                    **(values or {}),
                },
            )
        )

    def set_label_carrier(self, shipment: StoredShipment, carrier: str) -> dict[str, Any] | None:
        """Mark a packed shipment as being labelled by `carrier` (again, by the same one):
        the item after, or None when it is no longer packed or another carrier has it."""
        return update_if(
            self.table_name,
            key(shipment.order_id, shipment_sk(shipment.shipment_id)),
            "SET label_carrier = :c",
            condition="#status = :packed AND "
            "(attribute_not_exists(label_carrier) OR label_carrier = :c)",
            names={"#status": "status"},
            values={":c": carrier, ":packed": "PACKED"},
        )

    def bump_version(self, order_id: str, seen: int) -> dict[str, Any]:
        """The summary's version from `seen` to the next: a decision made on what was read at
        `seen` commits only if nothing else was decided meanwhile."""
        return self._in_table(
            update_write(
                key(order_id, SUMMARY),
                "SET version = :next",
                condition="version = :seen",
                values={":seen": seen, ":next": seen + 1},
            )
        )

    def put_tracking(
        self, carrier: str, tracking_number: str, order_id: str, shipment_id: str
    ) -> dict[str, Any]:
        item = {
            **{k: v["S"] for k, v in tracking_key(carrier, tracking_number).items()},
            "order_id": order_id,
            "shipment_id": shipment_id,
        }
        return self._in_table(put_write(item, condition="attribute_not_exists(pk)"))

    def mark_claim(
        self, order_id: str, sk: str, field: str, at: str, **more: Any
    ) -> dict[str, Any]:
        """A transaction's write stamping `field` on a claim, once (the condition is on its
        absence): the restock or the refund of a claim happens exactly once."""
        sets = ", ".join([f"{field} = :at", "updated_at = :at", *(f"{k} = :{k}" for k in more)])
        return self._in_table(
            update_write(
                key(order_id, sk),
                f"SET {sets}",
                condition=f"attribute_exists(pk) AND attribute_not_exists({field})",
                values={":at": at, **{f":{k}": v for k, v in more.items()}},
            )
        )

    def set_status(
        self,
        order_id: str,
        sk: str,
        to: str,
        seen: tuple[str, ...],
        change: StatusChange,
        *,
        opens: bool = False,
        closes: bool = False,
        retried: bool = False,
    ) -> dict[str, Any] | None:
        """Move an item (the summary, a claim) from one of the `seen` statuses to `to`, adding
        `change` to its history: the item after, or None when its status was not one of them.
        A claim that `opens` enters OpenClaimsIndex (its refund is due); one that `closes`
        leaves it."""
        allowed = " OR ".join(f"#status = :s{i}" for i in range(len(seen)))
        opening = ", open_claim = :open, opened_at = :at" if opens else ""
        if retried:
            opening += ", attempt = if_not_exists(attempt, :zero) + :one"
        closing = " REMOVE open_claim, opened_at" if closes else ""
        return update_if(
            self.table_name,
            key(order_id, sk),
            "SET #status = :to, updated_at = :at, "
            "history = list_append(if_not_exists(history, :empty), :h)" + opening + closing,
            condition=f"attribute_exists(pk) AND ({allowed})",
            names={"#status": "status"},
            values={
                ":to": to,
                ":at": change.at,
                ":h": [change.model_dump()],
                ":empty": [],
                **({":open": OPEN} if opens else {}),
                **({":zero": 0, ":one": 1} if retried else {}),
                **{f":s{i}": s for i, s in enumerate(seen)},
            },
        )

    def open_claims(self, opened_before: str) -> list[tuple[str, str]]:
        """(order id, claim id) of every claim opened before then and not settled."""
        items = query_all(
            self.table_name,
            "open_claim = :open AND opened_at < :before",
            {":open": OPEN, ":before": opened_before},
            index="OpenClaimsIndex",
        )
        return [(str(i["pk"]).removeprefix("ORDER#"), str(i["sk"]).split("#", 1)[1]) for i in items]

    def transact(self, writes: list[dict[str, Any]]) -> list[str] | None:
        """None when it committed, else its cancellation codes. Writes name their tables (an
        inventory restock and a claim's mark commit together)."""
        return transact(writes)

    def _in_table(self, write: dict[str, Any]) -> dict[str, Any]:
        next(iter(write.values()))["TableName"] = self.table_name
        return write


def image(record_image: dict[str, Any]) -> dict[str, Any]:
    return from_item(record_image)
