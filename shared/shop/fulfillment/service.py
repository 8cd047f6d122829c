"""Fulfillment: an order placed becomes shipments, one per warehouse its units were reserved in;
warehouses pack and ship them, a carrier reports their tracking; the customer cancels what has
not shipped and returns what was delivered. The DynamoDB side is shop.fulfillment.repository.

Every change is a conditional write on the item it changes, so two requests racing (a cancel
and a ship, two returns of the same units, a duplicate webhook and the next one) cannot both
win. Giving back is a *claim* (a cancellation or a received return): the refund state machine
(statemachines/refund.asl.json) restocks its units, refunds its value and settles it, each step
recorded on the claim under a condition, so a retried step does nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from shop import aws, faults
from shop.clock import iso_at, iso_now, now
from shop.config import fulfillment_table, refund_state_machine
from shop.dynamo import error_code
from shop.errors import (
    AlreadyShipped,
    CarrierNotFound,
    ClaimStateConflict,
    IdempotencyKeyReused,
    OrderNotFound,
    OrderStateConflict,
    ReturnNotAllowed,
    ReturnNotFound,
    ReturnStateConflict,
    ShipmentNotFound,
    ShipmentStateConflict,
    Throttled,
)
from shop.fulfillment import rules
from shop.fulfillment.carriers import Carrier, TrackingUpdate, carrier_named
from shop.fulfillment.models import (
    RANK,
    SHIPPED_RANK,
    TRACKED_STATUS,
    Cancellation,
    CancellationAccepted,
    Claim,
    Line,
    Return,
    ReturnRequest,
    Shipment,
    StatusChange,
    StoredShipment,
    TrackingOutcome,
)
from shop.fulfillment.repository import (
    OPEN,
    SUMMARY,
    FulfillmentRepository,
    claim_sk,
    shipment_sk,
)
from shop.inventory.service import get_reservation, restock_writes
from shop.money import Money
from shop.observability import get_logger
from shop.orders.models import HistoryEntry, Order, OrderLine

logger = get_logger("fulfillment")
MAX_ATTEMPTS = 8  # optimistic retries when a concurrent change won


def repository() -> FulfillmentRepository:
    return FulfillmentRepository(fulfillment_table())


def order_of(child_id: str) -> str:
    """The order a shipment, return or cancellation id belongs to."""
    return child_id.split(".", 1)[0]


def _fingerprint(request: dict[str, Any]) -> str:
    """What a claim's request asked, for telling a repeat from a key reused for another."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same_request(item: dict[str, Any] | None, fingerprint: str) -> None:
    if item is not None and item.get("request_hash", fingerprint) != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")


def _claim_id(order_id: str, kind: str, key: str | None) -> str:
    """A claim's id, from the request's Idempotency-Key when it has one: a repeat finds it."""
    seed = f"{order_id}:{kind}:{key}" if key else uuid.uuid4().hex
    return f"{order_id}.{kind[0]}-{hashlib.sha256(seed.encode()).hexdigest()[:16]}"


# ----------------------------------------------------------------------------- planning
def plan_shipments(
    *,
    order_id: str,
    checkout_id: str,
    user_id: str,
    lines: list[OrderLine],
    total: Money,
    correlation_id: str,
) -> None:
    """The order's shipments, one per warehouse the checkout reserved its units in, and the
    order's fulfillment summary, all in one transaction; nothing when they exist already."""
    repo = repository()
    if repo.summary(order_id) is not None:
        return
    reservation = get_reservation(checkout_id)
    if reservation is None or reservation.status != "COMMITTED":
        raise OrderStateConflict(f"checkout {checkout_id}'s stock is not committed")
    at = iso_now()
    writes = [
        repo.put_new(
            order_id,
            SUMMARY,
            {
                "order_id": order_id,
                "user_id": user_id,
                "checkout_id": checkout_id,
                "lines": [line.model_dump() for line in lines],
                "total": total.model_dump(),
                "status": "PLACED",
                "history": [],
                "version": 0,
                "created_at": at,
                "correlation_id": correlation_id,
            },
        )
    ]
    for warehouse_id, allocations in rules.by_warehouse(reservation.allocations).items():
        shipment = StoredShipment(
            shipment_id=f"{order_id}.{warehouse_id}",
            order_id=order_id,
            user_id=user_id,
            warehouse_id=warehouse_id,
            lines=rules.lines_of(allocations),
            allocations=allocations,
            status="PENDING",
            history=[StatusChange(status="PENDING", at=at, note=f"to be picked in {warehouse_id}")],
            created_at=at,
            updated_at=at,
        )
        writes.append(
            repo.put_new(
                order_id,
                shipment_sk(shipment.shipment_id),
                {**repo.shipment_item(shipment), "correlation_id": correlation_id},
            )
        )
    if repo.transact(writes) is not None and repo.summary(order_id) is None:
        raise Throttled(f"order {order_id}'s shipments could not be planned; retry")


def _ensure_planned(order: Order) -> None:
    """The shipments of a placed order, planned now if its OrderPlaced has not been handled
    yet (a customer cancelling at once must not wait for the queue)."""
    if order.status != "PLACED":
        raise OrderStateConflict(f"order {order.order_id} is {order.status}")
    plan_shipments(
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        user_id=order.user_id,
        lines=order.lines,
        total=order.total,
        correlation_id="",
    )


# ----------------------------------------------------------------------------- reading
class OrderFulfillment:
    """Everything fulfillment keeps of one order, read together."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.summary: dict[str, Any] | None = None
        self.shipments: list[StoredShipment] = []
        self.returns: list[Return] = []
        self.cancellations: list[Cancellation] = []
        self.claims: dict[str, Claim] = {}
        for item in items:
            kind = item["sk"].split("#", 1)[0]
            if kind == SUMMARY:
                self.summary = item
            elif kind == "SHIPMENT":
                self.shipments.append(StoredShipment.model_validate(item))
            elif kind == "RETURN":
                self.returns.append(Return.model_validate(item))
                self.claims[item["claim_id"]] = Claim.model_validate(item)
            elif kind == "CANCEL":
                self.cancellations.append(Cancellation.model_validate(item))
                self.claims[item["claim_id"]] = Claim.model_validate(item)

    def shipment(self, shipment_id: str) -> StoredShipment:
        for s in self.shipments:
            if s.shipment_id == shipment_id:
                return s
        raise ShipmentNotFound(f"no shipment {shipment_id}")

    @property
    def ordered(self) -> list[OrderLine]:
        assert self.summary is not None
        return [OrderLine.model_validate(line) for line in self.summary["lines"]]

    @property
    def currency(self) -> str:
        assert self.summary is not None
        return str(self.summary["total"]["currency"])


def read(order_id: str) -> OrderFulfillment:
    return OrderFulfillment(repository().order_items(order_id))


def with_fulfillment(order: Order) -> Order:
    """The order as its owner sees it: its shipments, returns and cancellations, and its status
    and history past PLACED."""
    if order.status == "PENDING":
        return order
    seen = read(order.order_id)
    if seen.summary is None:
        return order
    # Derived from what is shown beside it, so the two always agree (the stored status, and
    # the history entry of each change, follow a moment after each writer's change).
    status = rules.order_status(order.status, seen.shipments, seen.returns)
    known = {entry.status for entry in order.history}
    later = [
        HistoryEntry.model_validate(e) for e in seen.summary["history"] if e["status"] not in known
    ]
    return order.model_copy(
        update={
            "status": status,
            "history": sorted([*order.history, *later], key=lambda e: e.at),
            "shipments": [_public(s) for s in seen.shipments],
            "returns": seen.returns,
            "cancellations": seen.cancellations,
        }
    )


def with_statuses(orders: list[Order]) -> list[Order]:
    """A page of orders with their statuses past PLACED (one batch read, not one per order):
    a list shows where each order is; its shipments are on the order itself."""
    placed = [o for o in orders if o.status == "PLACED"]
    summaries = repository().summaries([o.order_id for o in placed])
    return [
        o.model_copy(update={"status": summaries[o.order_id]["status"]})
        if o.order_id in summaries
        else o
        for o in orders
    ]


def refresh_status(order_id: str) -> str:
    """Bring the order's status up to date with its shipments and returns (each writer calls
    this after its change; the one that sees the latest state writes it)."""
    repo = repository()
    for _ in range(MAX_ATTEMPTS):
        seen = read(order_id)
        if seen.summary is None:
            raise OrderNotFound(f"order {order_id} has no fulfillment")
        current = str(seen.summary["status"])
        derived = rules.order_status(current, seen.shipments, seen.returns)
        if derived == current:
            return current
        change = StatusChange(status=derived, at=iso_now())
        if repo.set_status(order_id, SUMMARY, derived, (current,), change) is not None:
            return derived
    raise Throttled(f"order {order_id} is changing too fast; retry")


def warehouse_shipments(
    warehouse_id: str, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Shipment], str | None]:
    items, next_cursor = repository().warehouse_page(warehouse_id, status, cursor, limit)
    return [Shipment.model_validate(s.model_dump()) for s in items], next_cursor


# ----------------------------------------------------------------------------- warehouse
def _shipment(shipment_id: str) -> StoredShipment:
    item = repository().item(order_of(shipment_id), shipment_sk(shipment_id))
    if item is None:
        raise ShipmentNotFound(f"no shipment {shipment_id}")
    return StoredShipment.model_validate(item)


def _public(shipment: StoredShipment) -> Shipment:
    return Shipment.model_validate(shipment.model_dump())


def pack(shipment_id: str, packer: str) -> Shipment:
    """PENDING -> PACKED. Packing a packed shipment again changes nothing."""
    repo = repository()
    shipment = _shipment(shipment_id)
    if shipment.status == "PENDING":
        change = StatusChange(status="PACKED", at=iso_now(), note=f"packed by {packer}")
        write = repo.move_shipment(
            shipment, change, allowed="#status = :from", values={":from": "PENDING"}
        )
        if repo.transact([write]) is None:
            return _public(_shipment(shipment_id))
        shipment = _shipment(shipment_id)  # a concurrent change won: answer from it
    if shipment.status == "PACKED":
        return _public(shipment)
    raise ShipmentStateConflict(
        f"shipment {shipment_id} is {shipment.status}: only a pending shipment is packed"
    )


def carrier(name: str) -> Carrier:
    try:
        return carrier_named(name)
    except LookupError:
        raise CarrierNotFound(f"no carrier {name!r} is configured") from None


def ship(shipment_id: str, carrier_name: str) -> Shipment:
    """PACKED -> SHIPPED: buy the carrier's label (the carrier answers the same label for the
    same shipment, so a retry buys nothing twice), then record it with its tracking number. A
    cancellation that wins the race voids the label."""
    repo = repository()
    shipment = _shipment(shipment_id)
    if RANK[shipment.status] >= SHIPPED_RANK and shipment.status != "CANCELLED":
        return _public(shipment)  # shipped already (this request's earlier attempt, or another)
    if shipment.status != "PACKED":
        raise ShipmentStateConflict(
            f"shipment {shipment_id} is {shipment.status}: only a packed shipment ships"
        )
    courier = carrier(carrier_name)
    # Claim the label for this carrier first: a cancellation that wins the race knows a label
    # may exist and voids it, and a retry with another carrier cannot buy a second one.
    marked = repo.set_label_carrier(shipment, courier.name)
    if marked is None:
        after = _shipment(shipment_id)
        raise ShipmentStateConflict(
            f"shipment {shipment_id} is {after.status}"
            + (f", labelled by {after.label_carrier}" if after.label_carrier else "")
        )
    label = courier.buy_label(shipment_id, shipment.warehouse_id, _address(shipment.order_id))
    faults.before("record_label")  # tests: the function dies with the label bought
    change = StatusChange(
        status="SHIPPED",
        at=iso_now(),
        note=f"handed to {label.carrier}, tracking {label.tracking_number}",
    )
    writes = [
        repo.move_shipment(
            shipment,
            change,
            allowed="#status = :from",
            values={
                ":from": "PACKED",
                ":carrier": label.carrier,
                ":tracking": label.tracking_number,
                ":label": label.label_url,
            },
            extra=", carrier = :carrier, tracking_number = :tracking, label_url = :label",
        ),
        repo.put_tracking(label.carrier, label.tracking_number, shipment.order_id, shipment_id),
    ]
    if repo.transact(writes) is not None:
        after = _shipment(shipment_id)
        if after.status == "CANCELLED":
            courier.void_label(label.tracking_number)
            raise ShipmentStateConflict(f"shipment {shipment_id} was cancelled")
        if after.tracking_number != label.tracking_number:
            raise ShipmentStateConflict(f"shipment {shipment_id} is {after.status}")
    refresh_status(shipment.order_id)
    return _public(_shipment(shipment_id))


def _address(order_id: str) -> Any:
    from shop.orders.service import get_order

    return get_order(order_id).shipping_address


def apply_tracking(carrier_name: str, update: TrackingUpdate) -> TrackingOutcome:
    """A carrier's tracking update: the shipment moves forward only (a duplicate, or an update
    older than what is known, is acknowledged and changes nothing)."""
    repo = repository()
    ref = repo.tracked(carrier_name, update.tracking_number)
    if ref is None:
        # The label was bought but its shipment not yet recorded (or never): the carrier's
        # retry will find it.
        raise ShipmentNotFound(f"no shipment has {carrier_name} tracking {update.tracking_number}")
    shipment = _shipment(ref["shipment_id"])
    to = TRACKED_STATUS[update.status]
    change = StatusChange(
        status=to, at=update.occurred_at, note=f"{carrier_name}: {update.status} {update.detail}"
    )
    write = repo.move_shipment(
        shipment,
        change,
        allowed="#rank < :rank AND #rank >= :shipped",
        values={
            ":shipped": SHIPPED_RANK,
            **({":delivered": update.occurred_at} if to == "DELIVERED" else {}),
        },
        extra=", delivered_at = :delivered" if to == "DELIVERED" else "",
    )
    applied = repo.transact([write]) is None
    # Even for a repeat: the carrier repeats an update whose answer failed, and the order's
    # status may be what did not follow.
    refresh_status(shipment.order_id)
    after = _shipment(ref["shipment_id"])
    return TrackingOutcome(applied=applied, shipment_id=after.shipment_id, status=after.status)


# ----------------------------------------------------------------------------- cancelling
def request_cancellation(
    order: Order, key: str, reason: str, correlation_id: str
) -> CancellationAccepted:
    """Stop every shipment of the order that has not left its warehouse, in one transaction
    with the cancellation that records them; then the refund state machine restocks and
    refunds them. The same key finds the same cancellation. What has shipped stays shipped
    (ALREADY_SHIPPED when that is all of it)."""
    repo = repository()
    if order.status == "CANCELLED":
        for earlier in read(order.order_id).cancellations:
            return CancellationAccepted(**earlier.model_dump(), already_shipped=[])
        raise OrderStateConflict(f"order {order.order_id} is CANCELLED")
    _ensure_planned(order)
    claim_id = _claim_id(order.order_id, "cancellation", key)
    fingerprint = _fingerprint({"reason": reason})
    for _ in range(MAX_ATTEMPTS):
        seen = read(order.order_id)
        if claim_id in seen.claims:
            _same_request(
                repo.item(order.order_id, claim_sk(claim_id, "cancellation")), fingerprint
            )
            if seen.claims[claim_id].status == "ACCEPTED":
                # A repeat of a request that stopped the shipments but may have died before
                # starting their refund: start it (the execution is named by the claim, so a
                # refund already under way is not started twice).
                _start_refund(order.order_id, claim_id, correlation_id)
            return _accepted(seen, claim_id)
        stoppable = [s for s in seen.shipments if s.status in ("PENDING", "PACKED")]
        shipped = [
            s.shipment_id
            for s in seen.shipments
            if RANK[s.status] >= SHIPPED_RANK and s.status != "CANCELLED"
        ]
        if not stoppable:
            if shipped:
                raise AlreadyShipped(
                    f"every part of order {order.order_id} has shipped: return it once delivered",
                    details={"shipment_ids": shipped},
                )
            raise OrderStateConflict(f"order {order.order_id} is cancelled already")
        at = iso_now()
        lines = rules.lines_of(a for s in stoppable for a in s.allocations)
        refund = rules.value_of(lines, seen.ordered, seen.currency)
        note = f"cancelled by the customer{': ' + reason if reason else ''}"
        writes = [
            repo.move_shipment(
                s,
                StatusChange(status="CANCELLED", at=at, note=note),
                allowed="#status = :from",
                values={":from": s.status},
            )
            for s in stoppable
        ]
        writes.append(
            repo.put_new(
                order.order_id,
                claim_sk(claim_id, "cancellation"),
                {
                    "claim_id": claim_id,
                    "cancellation_id": claim_id,
                    "kind": "cancellation",
                    "order_id": order.order_id,
                    "user_id": order.user_id,
                    "checkout_id": order.checkout_id,
                    "lines": [line.model_dump() for line in lines],
                    "shipment_ids": [s.shipment_id for s in stoppable],
                    "reason": reason,
                    "request_hash": fingerprint,
                    "status": "ACCEPTED",
                    "open_claim": OPEN,
                    "opened_at": at,
                    "refund": refund.model_dump(),
                    "restock": [a.model_dump() for s in stoppable for a in s.allocations],
                    "created_at": at,
                    "updated_at": at,
                    "correlation_id": correlation_id,
                },
            )
        )
        if repo.transact(writes) is None:
            _start_refund(order.order_id, claim_id, correlation_id)
            refresh_status(order.order_id)
            return _accepted(read(order.order_id), claim_id)
        # A shipment moved (shipped, or cancelled by a concurrent request): decide again.
    raise Throttled(f"order {order.order_id} is changing too fast; retry")


def _accepted(seen: OrderFulfillment, claim_id: str) -> CancellationAccepted:
    cancellation = next(c for c in seen.cancellations if c.cancellation_id == claim_id)
    shipped = [
        s.shipment_id
        for s in seen.shipments
        if s.status != "CANCELLED" and s.shipment_id not in cancellation.shipment_ids
    ]
    return CancellationAccepted(**cancellation.model_dump(), already_shipped=shipped)


# ----------------------------------------------------------------------------- returns
def request_return(
    order: Order, request: ReturnRequest, key: str | None, correlation_id: str
) -> Return:
    """A return of delivered lines, within the return window: refused (RETURN_NOT_ALLOWED)
    for more than was delivered and not yet claimed. Decided on the summary's version, so two
    returns racing for the same units cannot both be accepted."""
    repo = repository()
    claim_id = _claim_id(order.order_id, "return", key)
    wanted = rules.units(request.lines)
    fingerprint = _fingerprint({"lines": dict(wanted), "reason": request.reason})
    for _ in range(MAX_ATTEMPTS):
        seen = read(order.order_id)
        if claim_id in seen.claims:
            _same_request(repo.item(order.order_id, claim_sk(claim_id, "return")), fingerprint)
            return next(r for r in seen.returns if r.return_id == claim_id)
        if seen.summary is None or order.status == "CANCELLED":
            raise ReturnNotAllowed(f"nothing of order {order.order_id} was delivered")
        allowed = rules.returnable(seen.shipments, seen.returns, now())
        over = {sku: q for sku, q in wanted.items() if q > allowed[sku]}
        if over:
            raise ReturnNotAllowed(
                "more than was delivered (and not yet returned) within the return window",
                details={
                    "requested": dict(over),
                    "returnable": {sku: allowed[sku] for sku in over},
                },
            )
        lines = [Line(sku=sku, quantity=q) for sku, q in sorted(wanted.items())]
        restock = rules.return_allocations(
            lines, seen.shipments, (c.restock for c in seen.claims.values() if c.kind == "return")
        )
        at = iso_now()
        refund = rules.value_of(lines, seen.ordered, seen.currency)
        fields = {
            "claim_id": claim_id,
            "return_id": claim_id,
            "kind": "return",
            "order_id": order.order_id,
            "user_id": order.user_id,
            "checkout_id": order.checkout_id,
            "lines": [line.model_dump() for line in lines],
            "reason": request.reason,
            "request_hash": fingerprint,
            "status": "REQUESTED",
            "refund": refund.model_dump(),
            "restock": [a.model_dump() for a in restock],
            "history": [StatusChange(status="REQUESTED", at=at, note=request.reason).model_dump()],
            "created_at": at,
            "updated_at": at,
            "correlation_id": correlation_id,
        }
        writes = [
            repo.bump_version(order.order_id, int(seen.summary["version"])),
            repo.put_new(order.order_id, claim_sk(claim_id, "return"), fields),
        ]
        if repo.transact(writes) is None:
            return Return.model_validate(fields)
        # Another return (or this one's repeat) was decided meanwhile: decide again on it.
    raise Throttled(f"order {order.order_id} is changing too fast; retry")


def receive_return(return_id: str, receiver: str, correlation_id: str) -> Return:
    """The warehouse has the returned units: REQUESTED -> RECEIVED, then the refund state
    machine restocks and refunds them. Receiving it again changes nothing more."""
    repo = repository()
    order_id = order_of(return_id)
    sk = claim_sk(return_id, "return")
    item = repo.item(order_id, sk)
    if item is None:
        raise ReturnNotFound(f"no return {return_id}")
    if item["status"] == "REQUESTED":
        change = StatusChange(status="RECEIVED", at=iso_now(), note=f"received by {receiver}")
        item = repo.set_status(order_id, sk, "RECEIVED", ("REQUESTED",), change, opens=True) or (
            repo.item(order_id, sk) or item
        )
    if item["status"] not in ("RECEIVED", "REFUNDED", "STALLED"):
        raise ReturnStateConflict(f"return {return_id} is {item['status']}")
    if item["status"] == "RECEIVED":
        _start_refund(order_id, return_id, correlation_id or item.get("correlation_id", ""))
    refresh_status(order_id)
    return Return.model_validate(item)


# ----------------------------------------------------------------------------- claims
def _start_refund(order_id: str, claim_id: str, correlation_id: str, attempt: int = 0) -> None:
    faults.before("start_refund")  # tests: the request dies between its commit and this
    name = claim_id.replace(".", "_") + (f"_retry{attempt}" if attempt else "")
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=refund_state_machine(),
            name=name,
            input=json.dumps(
                {"order_id": order_id, "claim_id": claim_id, "correlation_id": correlation_id}
            ),
        )
    except ClientError as error:
        # Same name, same input: the same execution (a repeated request starts nothing new).
        if error_code(error) != "ExecutionAlreadyExists":
            raise


RESUME_AFTER_SECONDS = 60  # a request's own start comes within its Lambda timeout


def resume_open_claims() -> int:
    """Start the refund of every claim left open for a minute (its request died between its
    commit and the start); one already under way or finished is not started again."""
    opened_before = iso_at(now() - RESUME_AFTER_SECONDS)
    claims = repository().open_claims(opened_before)
    for order_id, claim_id in claims:
        _start_refund(order_id, claim_id, "")
    return len(claims)


def retry_claim(claim_id: str, operator: str, correlation_id: str) -> Claim:
    """An operator's retry of a STALLED claim (the cause fixed): it is open again, and a new
    execution of the refund state machine runs its steps, each of which skips what it did
    before. Anything but a stalled claim is refused (CLAIM_STATE)."""
    order_id = order_of(claim_id)
    kind = _kind(claim_id)
    open_status = "RECEIVED" if kind == "return" else "ACCEPTED"
    change = StatusChange(status=open_status, at=iso_now(), note=f"retried by {operator}")
    after = repository().set_status(
        order_id,
        claim_sk(claim_id, kind),
        open_status,
        ("STALLED",),
        change,
        opens=True,
        retried=True,
    )
    if after is None:
        claim = _claim(order_id, claim_id)
        raise ClaimStateConflict(
            f"claim {claim_id} is {claim.status}: only a stalled one is retried"
        )
    claim = Claim.model_validate(after)
    _start_refund(order_id, claim_id, correlation_id, claim.attempt)
    refresh_status(order_id)
    return claim


def _claim(order_id: str, claim_id: str) -> Claim:
    seen = read(order_id)
    claim = seen.claims.get(claim_id)
    if claim is None:
        raise ReturnNotFound(f"no claim {claim_id}")
    return claim


def _kind(claim_id: str) -> str:
    return "return" if ".r-" in claim_id else "cancellation"


def restock_claim(order_id: str, claim_id: str) -> dict[str, Any]:
    """The claim's units back on the stock items they left, with ledger entries, in one
    transaction with the claim's `restocked_at`: exactly once however often it runs."""
    claim = _claim(order_id, claim_id)
    if claim.restocked_at is not None:
        return {"restocked": False}
    if claim.kind == "cancellation":
        _void_labels(order_id, claim_id)
    repo = repository()
    writes = restock_writes(claim.restock, f"{claim.kind}: {claim_id}")
    writes.append(
        repo.mark_claim(order_id, claim_sk(claim_id, claim.kind), "restocked_at", iso_now())
    )
    if repo.transact(writes) is not None:
        if _claim(order_id, claim_id).restocked_at is not None:
            return {"restocked": False}  # a concurrent run did it
        raise Throttled(f"the stock of claim {claim_id} could not be restocked; retry")
    return {"restocked": True, "units": sum(a.quantity for a in claim.restock)}


def _void_labels(order_id: str, claim_id: str) -> None:
    """Void the label of each stopped shipment a ship had begun labelling (it may have bought
    one and died): the carrier answers the same label for the same shipment, then voids it.
    A carrier that has the parcel moving refuses (LabelNotVoidable): the claim stalls for an
    operator rather than restocking units that are on a van."""
    seen = read(order_id)
    cancellation = next(c for c in seen.cancellations if c.cancellation_id == claim_id)
    for shipment in seen.shipments:
        if shipment.shipment_id in cancellation.shipment_ids and shipment.label_carrier:
            courier = carrier(shipment.label_carrier)
            label = courier.buy_label(
                shipment.shipment_id, shipment.warehouse_id, _address(order_id)
            )
            courier.void_label(label.tracking_number)


def refund_claim(order_id: str, claim_id: str) -> dict[str, Any]:
    """The claim's value back to the customer's card (at most what is left of the payment),
    once: the payment side keys the refund by the claim."""
    from shop.payments.service import refund_part

    claim = _claim(order_id, claim_id)
    if claim.refunded_at is not None:
        return {"refunded": False}
    outcome = refund_part(claim.checkout_id, claim_id, claim.refund)
    repo = repository()
    mark = repo.mark_claim(
        order_id,
        claim_sk(claim_id, claim.kind),
        "refunded_at",
        iso_now(),
        refund_id=str(outcome.get("refund_id", "")),
    )
    repo.transact([mark])  # refused only if a concurrent run marked it first
    return {"refunded": True, "amount": claim.refund.amount}


def settle_claim(order_id: str, claim_id: str) -> dict[str, Any]:
    """The claim is done: REFUNDED, and the order's status follows. A cancellation that leaves
    nothing to ship cancels the order itself (whose outbox announces OrderCancelled)."""
    from shop.orders.service import cancel

    repo = repository()
    kind = _kind(claim_id)
    seen_status = ("RECEIVED",) if kind == "return" else ("ACCEPTED",)
    change = StatusChange(status="REFUNDED", at=iso_now(), note="restocked and refunded")
    repo.set_status(
        order_id, claim_sk(claim_id, kind), "REFUNDED", seen_status, change, closes=True
    )
    seen = read(order_id)
    if (
        kind == "cancellation"
        and seen.shipments
        and all(s.status == "CANCELLED" for s in seen.shipments)
    ):
        cancel(order_id, "cancelled by the customer")
    return {"status": refresh_status(order_id)}


def stall_claim(order_id: str, claim_id: str, error: str, cause: str) -> dict[str, Any]:
    """A step failed past its retries: the claim waits for an operator, saying why."""
    kind = _kind(claim_id)
    change = StatusChange(status="STALLED", at=iso_now(), note=f"{error}: {cause}"[:500])
    seen = ("RECEIVED",) if kind == "return" else ("ACCEPTED",)
    repository().set_status(
        order_id, claim_sk(claim_id, kind), "STALLED", seen, change, closes=True
    )
    refresh_status(order_id)
    logger.error(
        "a claim stalled: an operator must settle it",
        extra={"order_id": order_id, "claim_id": claim_id, "error": error, "cause": cause},
    )
    return {"status": "STALLED"}
