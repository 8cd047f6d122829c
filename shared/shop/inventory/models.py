"""Inventory's shapes: stock levels, reservation requests and the reservations themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop.catalog.models import Sku

WarehouseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
CheckoutId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")]
MAX_SHARDS = 20
MAX_RESERVATION_LINES = 30  # one reservation is one transaction: lines, ledger, the record
DEFAULT_HOLD_SECONDS = 15 * 60
ReservationStatus = Literal["HELD", "COMMITTED", "RELEASED", "EXPIRED"]


class StockLevel(BaseModel):
    """One stock item: a warehouse's stock of a SKU, or one shard of it."""

    sku: str
    warehouse_id: str
    shard: int
    on_hand: int
    reserved: int
    available: int


class SetStock(BaseModel):
    """PUT /admin/inventory/{sku}: the warehouse's on-hand quantity becomes `quantity`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    warehouse_id: WarehouseId
    quantity: Annotated[int, Field(ge=0, le=10_000_000)]
    shards: Annotated[int, Field(ge=1, le=MAX_SHARDS)] | None = None


class AdjustStock(BaseModel):
    """POST /admin/inventory/{sku}/adjustments: a count correction, damage, a return."""

    model_config = ConfigDict(extra="forbid", strict=True)

    warehouse_id: WarehouseId
    delta: Annotated[int, Field(ge=-10_000_000, le=10_000_000)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ReservationLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class ReserveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    checkout_id: CheckoutId
    lines: Annotated[
        Sequence[ReservationLine], Field(min_length=1, max_length=MAX_RESERVATION_LINES)
    ]
    hold_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = DEFAULT_HOLD_SECONDS
    # The reservation whose units this one takes (a flash sale's set-aside): the units change
    # owner and stay reserved, and go back to it if this one is released.
    from_hold: CheckoutId | None = None


class SnapshotLine(ReservationLine):
    """A line of the checkout's snapshot, as a reservation reads it: it also carries its
    price, which is not inventory's business."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class ReserveStep(ReserveRequest):
    """ReserveStock's input: the saga's state, whose lines are the snapshot's."""

    lines: Annotated[Sequence[SnapshotLine], Field(min_length=1, max_length=MAX_RESERVATION_LINES)]


class Allocation(BaseModel):
    """Part of a reservation taken from one stock item."""

    sku: str
    warehouse_id: str
    shard: int
    quantity: int


class Reservation(BaseModel):
    checkout_id: str
    status: ReservationStatus
    lines: list[ReservationLine]
    allocations: list[Allocation]
    expires_at: int  # epoch seconds
    created_at: str
    updated_at: str
    from_hold: str | None = None  # the hold its units came from (see ReserveRequest)
    version: int = 0  # a hold's: each change of what it keeps is conditional on it


class Availability(BaseModel):
    sku: str
    available: int
    in_stock: bool


class CheckoutRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    checkout_id: CheckoutId


class StockLevels(BaseModel):
    """The warehouse's stock items of the SKU after a change."""

    levels: list[StockLevel]


class ReservationPage(BaseModel):
    items: list[Reservation]
    cursor: str | None  # pass back to get the next page; None on the last
