"""A shopper's lean: the categories and products they buy, from their order history.

Weights are in 0..1: a category's share of the shopper's purchases relative to their favourite
category, and 1 for a product bought before (shoppers re-buy: the data set is a gift
wholesaler's, whose customers restock). Recent history counts as much as old history: the
history read is the latest orders only, which bounds both the cost and the staleness.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from shop.search.models import ShopperProfile

MAX_PRODUCTS = 200


def profile_of(bought: Iterable[tuple[str, str]]) -> ShopperProfile:
    """The profile of a history of (product_id, category) purchases, newest first."""
    categories: Counter[str] = Counter()
    products: dict[str, float] = {}
    for product_id, category in bought:
        categories[category] += 1
        if len(products) < MAX_PRODUCTS:
            products.setdefault(product_id, 1.0)
    if not categories:
        return ShopperProfile()
    top = max(categories.values())
    return ShopperProfile(
        categories={c: n / top for c, n in categories.items()},
        products=products,
    )
