"""What search takes and answers, at the API's edge, and what it indexes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shop.catalog.models import CategorySlug
from shop.money import MAX_AMOUNT, Money

MAX_QUERY_LENGTH = 200
MAX_RESULT_WINDOW = 1000  # how deep a shopper can page, as OpenSearch's max_result_window

SearchSort = Literal["relevance", "price_asc", "price_desc", "newest", "bestselling"]
Price = Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="minor units, e.g. pence")]


class SearchQuery(BaseModel):
    """GET /search's query string. Words are text, whatever characters they hold."""

    model_config = ConfigDict(extra="ignore")

    q: Annotated[str, StringConstraints(max_length=MAX_QUERY_LENGTH)] = ""
    category: CategorySlug | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    in_stock: bool | None = None
    sort: SearchSort = "relevance"
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20

    @model_validator(mode="after")
    def _price_range_is_a_range(self) -> SearchQuery:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price is above max_price")
        return self


class SuggestQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: Annotated[str, StringConstraints(max_length=MAX_QUERY_LENGTH)] = ""
    limit: Annotated[int, Field(ge=1, le=20)] = 8


class SearchHit(BaseModel):
    product_id: str
    name: str
    category: str
    price: Money  # the product's lowest variant price
    in_stock: bool
    highlight: str  # the name, matched words in <em></em>, the rest HTML-escaped


class FacetValue(BaseModel):
    value: str
    count: int


class PriceBucket(BaseModel):
    min: int  # minor units, inclusive
    max: int | None  # exclusive; None: no upper bound
    count: int


class SearchFacets(BaseModel):
    category: list[FacetValue]
    price: list[PriceBucket]


class SearchPage(BaseModel):
    items: list[SearchHit]
    facets: SearchFacets
    total: int  # every product matching the query and filters, not only this page
    cursor: str | None
    # The search engine is unavailable: these are the last results served for the same query,
    # or (never asked before) the category's products as the catalog lists them.
    degraded: bool = False


class Suggestion(BaseModel):
    text: str
    product_id: str


class Suggestions(BaseModel):
    suggestions: list[Suggestion]
    degraded: bool = False  # the search engine is unavailable: none to offer for now


class ProductDocument(BaseModel):
    """One product as the index holds it: what search filters, sorts and ranks on. Derived
    from the catalog (the truth), the inventory and the sales counts; rebuilt from them."""

    model_config = ConfigDict(frozen=True)

    product_id: str
    version: int
    name: str
    description: str = ""
    category: str
    skus: list[str]
    price: int  # the lowest variant price, minor units
    currency: str
    in_stock: bool
    created_at: str
    sales: int = 0  # orders that bought it: the shipped history, then OrderPlaced events
    attributes: list[str] = []  # the variants' attribute values ("Red", "Large"), searchable


class ShopperProfile(BaseModel):
    """What one shopper buys, for leaning their results toward it: weights in 0..1."""

    model_config = ConfigDict(frozen=True)

    categories: dict[str, float] = {}
    products: dict[str, float] = {}

    @property
    def empty(self) -> bool:
        return not self.categories and not self.products


PRICE_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 500),
    (500, 1000),
    (1000, 2000),
    (2000, 5000),
    (5000, None),
)
