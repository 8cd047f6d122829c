"""What a product is, at the API's edge and in the service."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shop.money import Money

MAX_VARIANTS = 40  # one product and its SKUs change in one transaction (100 items at most)

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
ProductId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
CategorySlug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=40)]
AttributeValue = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ImageUrl = Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=2048)]
ProductStatus = Literal["active", "archived"]


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sku: Sku
    attributes: Annotated[dict[AttributeName, AttributeValue], Field(max_length=10)] = {}
    price: Money


class ProductDraft(BaseModel):
    """The fields an administrator writes, on create and (all of them again) on update."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    category: CategorySlug
    status: ProductStatus = "active"
    images: Annotated[list[ImageUrl], Field(max_length=20)] = []
    variants: Annotated[list[Variant], Field(min_length=1, max_length=MAX_VARIANTS)]

    @model_validator(mode="after")
    def _skus_are_distinct(self) -> ProductDraft:
        skus = [v.sku for v in self.variants]
        duplicates = sorted({s for s in skus if skus.count(s) > 1})
        if duplicates:
            raise ValueError(f"each SKU may appear once; repeated: {', '.join(duplicates)}")
        return self


class NewProduct(ProductDraft):
    """A create request; the id is chosen by the platform unless the administrator gives one."""

    product_id: ProductId | None = None


class ProductUpdate(ProductDraft):
    """A full replacement; `version`, when given, must match the stored one (optimistic lock)."""

    version: Annotated[int, Field(ge=1)] | None = None


class Product(ProductDraft):
    product_id: ProductId
    version: int
    created_at: str
    updated_at: str


class SkuRecord(BaseModel):
    """One sellable variant as other services see it."""

    sku: str
    product_id: str
    name: str
    status: ProductStatus
    attributes: dict[str, str]
    price: Money

    @property
    def sellable(self) -> bool:
        return self.status == "active"


class ProductPage(BaseModel):
    items: list[Product]
    cursor: str | None


class ListProductsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    category: CategorySlug | None = None
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
