"""Flash sales' shapes: what an admin and a shopper send, and what they see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shop.catalog.models import Sku
from shop.money import Money

SaleId = Annotated[str, StringConstraints(pattern=r"^fs-[0-9a-f]{32}$")]
TicketId = Annotated[str, StringConstraints(pattern=r"^tk-[0-9a-f]{32}$")]
SaleStatus = Literal["SCHEDULED", "OPEN", "SOLD_OUT", "ENDED"]
TicketStatus = Literal["QUEUED", "WON", "LOST", "EXPIRED"]
MAX_SALE_UNITS = 100_000
MAX_PER_CUSTOMER = 100

Moment = Annotated[
    str,
    StringConstraints(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
    ),
    Field(description="ISO 8601 with a zone, e.g. 2026-12-01T10:00:00Z"),
]


def epoch(moment: str) -> float:
    """An ISO 8601 moment (validated by `Moment`) as seconds since the epoch."""
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


class NewFlashSale(BaseModel):
    """POST /admin/flash-sales: `quantity` units of the SKU set aside at `price` between
    `starts_at` and `ends_at`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=MAX_SALE_UNITS)]
    price: Money
    starts_at: Moment
    ends_at: Moment
    per_customer_limit: Annotated[int, Field(ge=1, le=MAX_PER_CUSTOMER)] = 1
    hold_seconds: Annotated[
        int, Field(ge=60, le=3600, description="how long a winner's units wait for checkout")
    ] = 600

    @model_validator(mode="after")
    def _coherent(self) -> NewFlashSale:
        try:
            starts, ends = epoch(self.starts_at), epoch(self.ends_at)
        except ValueError:
            raise ValueError("starts_at and ends_at must be real moments") from None
        if ends <= starts:
            raise ValueError("ends_at must come after starts_at")
        if self.per_customer_limit > self.quantity:
            raise ValueError("per_customer_limit cannot exceed the sale's quantity")
        return self


class FlashSaleView(BaseModel):
    """A sale as anyone sees it: its terms and how it stands (cached for about a second)."""

    sale_id: str
    sku: str
    quantity: int
    price: Money
    starts_at: str
    ends_at: str
    per_customer_limit: int
    hold_seconds: int
    status: SaleStatus
    remaining: int = Field(description="units not yet won (a lapsed win gives its units back)")
    queued: int = Field(description="entries waiting for a decision, approximately")
    sold: int
    created_at: str
    product_id: str | None = Field(
        default=None, description="the product the SKU belongs to (None on older sales)"
    )
    name: str = Field(default="", description="the product's name when the sale was created")


class FlashSaleList(BaseModel):
    """The sales a shopper can enter or wait for (scheduled, open, or sold out while a lapsed
    win may still give units back), the soonest first."""

    items: list[FlashSaleView]


class EnterFlashSale(BaseModel):
    """POST /flash-sales/{sale_id}/entries: how many units the shopper wants."""

    model_config = ConfigDict(extra="forbid", strict=True)

    quantity: Annotated[int, Field(ge=1, le=MAX_PER_CUSTOMER)] = 1


class EntryAccepted(BaseModel):
    """The entry is durable and in line; poll the ticket for its decision."""

    ticket_id: str
    status: TicketStatus
    position: int | None = Field(
        description=(
            "place in line, 1 first; given when the line reaches the entry (an exact place "
            "at acceptance would need a counter every entry writes), so null at first"
        )
    )


class TicketView(BaseModel):
    ticket_id: str
    sale_id: str
    status: TicketStatus
    quantity: int
    position: int | None
    accepted_at: str
    decided_at: str | None = None
    hold_expires_at: str | None = Field(None, description="a win's units wait until then")
    checkout_id: str | None = None
    order_id: str | None = Field(None, description="set once the win was checked out")
