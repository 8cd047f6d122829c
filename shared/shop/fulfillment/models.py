"""Fulfillment's shapes: shipments, the customer's cancellations and returns, and what the
warehouse and the customer send.

Ids carry their order's id (`<order_id>.<suffix>`: "ord-7f3a.wh-london", "ord-7f3a.r-1c2d"), so a
shipment, a return or a cancellation is found in its order's partition without an index.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop.catalog.models import Sku
from shop.inventory.models import Allocation
from shop.money import Money

ORDER_ID_PATTERN = r"ord-[A-Za-z0-9_-]{1,80}"
ShipmentId = Annotated[
    str, StringConstraints(pattern=rf"^{ORDER_ID_PATTERN}\.[a-z0-9][a-z0-9-]{{0,39}}$")
]
ReturnId = Annotated[str, StringConstraints(pattern=rf"^{ORDER_ID_PATTERN}\.r-[a-z0-9]{{1,32}}$")]
OrderId = Annotated[str, StringConstraints(pattern=rf"^{ORDER_ID_PATTERN}$")]
ClaimId = Annotated[str, StringConstraints(pattern=rf"^{ORDER_ID_PATTERN}\.[rc]-[a-z0-9]{{1,32}}$")]
CarrierName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]

RETURN_WINDOW_DAYS = 30

# A shipment's life. Each status has a rank and a shipment only ever moves to a higher rank, so
# a duplicate or late tracking update (a lower or equal rank) changes nothing. CANCELLED is
# reachable from PENDING and PACKED only: what has left the warehouse is returned, not cancelled.
ShipmentStatus = Literal[
    "PENDING",  # planned: the warehouse has to pick it
    "PACKED",
    "SHIPPED",  # a label is bought: the carrier has it (pre_transit)
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "DELIVERY_FAILED",
    "CANCELLED",
]
RANK: dict[str, int] = {
    "PENDING": 0,
    "PACKED": 1,
    "SHIPPED": 2,
    "IN_TRANSIT": 3,
    "OUT_FOR_DELIVERY": 4,
    # A failed attempt is not the end: the carrier's redelivery may still deliver it.
    "DELIVERY_FAILED": 5,
    "DELIVERED": 6,
    "CANCELLED": 9,
}
SHIPPED_RANK = RANK["SHIPPED"]
# The carrier's normalised statuses (EasyPost/Shippo vocabulary) as shipment statuses.
TRACKED_STATUS: dict[str, ShipmentStatus] = {
    "pre_transit": "SHIPPED",
    "in_transit": "IN_TRANSIT",
    "out_for_delivery": "OUT_FOR_DELIVERY",
    "delivered": "DELIVERED",
    "failure": "DELIVERY_FAILED",
}

ReturnStatus = Literal["REQUESTED", "RECEIVED", "REFUNDED", "STALLED"]
CancellationStatus = Literal["ACCEPTED", "REFUNDED", "STALLED"]
ClaimKind = Literal["cancellation", "return"]


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class StatusChange(BaseModel):
    status: str
    at: str
    note: str = ""


class Shipment(BaseModel):
    """One warehouse's part of an order."""

    shipment_id: str
    order_id: str
    warehouse_id: str
    lines: list[Line]
    carrier: str | None = None
    tracking_number: str | None = None
    label_url: str | None = None
    status: ShipmentStatus
    history: list[StatusChange]
    created_at: str
    updated_at: str
    delivered_at: str | None = None


class StoredShipment(Shipment):
    """A shipment as the table keeps it: also where its units were taken from, to restock them
    exactly there if it is cancelled or returned."""

    user_id: str
    allocations: list[Allocation]
    # Set before a label is bought: a cancellation that wins the race voids that label.
    label_carrier: str | None = None


class Return(BaseModel):
    return_id: str
    order_id: str
    lines: list[Line]
    reason: str
    status: ReturnStatus
    refund: Money
    history: list[StatusChange]
    created_at: str
    updated_at: str


class Cancellation(BaseModel):
    cancellation_id: str
    order_id: str
    lines: list[Line]
    shipment_ids: list[str]  # the shipments it stopped
    status: CancellationStatus
    refund: Money
    created_at: str
    updated_at: str


class Claim(BaseModel):
    """A cancellation or a return as the refund state machine settles it: units to put back on
    the shelves they came from, and money to give back. Stored fields of both kinds."""

    model_config = ConfigDict(extra="ignore")

    claim_id: str
    kind: ClaimKind
    order_id: str
    user_id: str
    checkout_id: str
    status: str
    refund: Money
    restock: list[Allocation]
    restocked_at: str | None = None
    refunded_at: str | None = None
    refund_id: str | None = None
    attempt: int = 0  # how many times an operator retried it after it stalled


# ------------------------------------------------------------------------ what clients send
class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lines: Annotated[list[Line], Field(min_length=1, max_length=30)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ShipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    carrier: CarrierName = "local"


class ShipmentQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    warehouse_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
    status: ShipmentStatus | None = None
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


# ------------------------------------------------------------------------ what they get back
class ShipmentPage(BaseModel):
    items: list[Shipment]
    cursor: str | None


class CancellationAccepted(Cancellation):
    """What a cancel request stopped; `already_shipped` lists the shipments it could not."""

    already_shipped: list[str]


class TrackingOutcome(BaseModel):
    applied: bool  # False for a duplicate, a stale update or one for a cancelled parcel
    shipment_id: str
    status: ShipmentStatus


class ClaimStep(BaseModel):
    """A refund state machine step's input (the execution's state)."""

    model_config = ConfigDict(extra="ignore")

    order_id: OrderId
    claim_id: str
    error: dict[str, str] | None = None  # what the Catch caught, for stall_claim
