"""What the recommendation routes take and answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shop.catalog.models import ProductId
from shop.money import Money

MAX_LIMIT = 50

# Why a product is shown, in the storefront's words.
Reason = Literal[
    "bought together",  # bought with the product on the page
    "bought again",  # the shopper buys it repeatedly
    "with what you bought",  # bought with what the shopper bought
    "from your session",  # bought with what the shopper is looking at now
    "popular",  # bought by many (a new shopper; or to fill a short list)
]


class RecommendationsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 10


class Recommendation(BaseModel):
    product_id: str
    name: str
    price: Money  # the product's lowest variant price
    reason: Reason


class Recommendations(BaseModel):
    items: list[Recommendation]
    # The recommendation store is unavailable: these are the shop's bestsellers, for everyone.
    degraded: bool = False


class ProductView(BaseModel):
    """POST /recommendations/views: the storefront showed the shopper this product."""

    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: ProductId


class ViewRecorded(BaseModel):
    product_id: str
    recorded_at: str
