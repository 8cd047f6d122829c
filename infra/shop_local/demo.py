"""Load the demo shop: the real catalog of the online-retail data set, stock for every SKU, and
the data set's invoices as the shop's purchase history (search ranks by it; recommendations
learn from it, each known customer's as the history of the user `customer-<CustomerID>`).

The drafts are validated like any admin's request, then written in bulk (a first load of an
empty catalog). Loading into a platform that already has the demo catalog changes nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from shop.catalog.models import NewProduct
from shop.catalog.service import first_versions, repository, seed_products
from shop.errors import NotFound
from shop.inventory.service import seed_stock
from shop.recommendations.model import Basket
from shop.recommendations.service import import_history, train_on
from shop.search.service import index_new_catalog, sales
from shop_local.auth import user_id
from shop_local.demo_catalog import build_demo_catalog
from shop_local.demo_sales import (
    Purchase,
    invoice_baskets,
    purchases,
    sku_products,
    times_ordered,
)

WAREHOUSES = ("wh-london", "wh-manchester")
HISTORY_UNTIL = "2011-11"  # the invoices before it are the demo shoppers' history


def demo_history(
    owners: dict[str, str], lines: Iterable[Purchase] | None = None
) -> list[tuple[str, Basket]]:
    """The invoices before HISTORY_UNTIL as (order id, basket): customers as the users
    `customer-<CustomerID>` (`shop token customer-17850` signs in as one), times in ISO.
    `lines`: the data set's purchases, when already read."""
    history = []
    for invoice, basket in invoice_baskets(
        owners, purchases() if lines is None else lines, until=HISTORY_UNTIL
    ):
        shopper = user_id(f"customer-{basket.customer}") if basket.customer else None
        at = basket.at.replace(" ", "T") + ".000Z"  # as the live events write times
        history.append((f"invoice-{invoice}", Basket(shopper, at, basket.products)))
    return history


def demo_stock(sku: str) -> list[tuple[str, str, int]]:
    """20-219 units in London, and in Manchester for about a third of SKUs."""
    h = zlib.crc32(sku.encode())
    levels = [(sku, WAREHOUSES[0], 20 + h % 200)]
    if h % 3 == 0:
        levels.append((sku, WAREHOUSES[1], 10 + (h // 7) % 90))
    return levels


def load_demo() -> dict[str, Any]:
    catalog = build_demo_catalog()
    drafts = [NewProduct.model_validate(d) for d in catalog]
    try:
        repository().get(str(drafts[0].product_id))
        return {"products": len(drafts), "created": 0, "note": "already loaded"}
    except NotFound:
        pass
    skus = [v.sku for d in drafts for v in d.variants]
    stocked = seed_stock(level for sku in skus for level in demo_stock(sku))
    # What sold, for search to rank by: every order of the shipped history.
    owners = sku_products(catalog)
    lines = list(purchases())  # read once: parsing the gzipped data set takes seconds
    orders = times_ordered(owners, lines)
    sold = sales().seed(orders)
    history = demo_history(owners, lines)
    baskets = import_history(history)
    # Trained on the baskets just written, not read back: reading 17,000 from the emulator
    # took two minutes of the demo's start.
    trained = train_on([basket for _, basket in history])
    products = first_versions(drafts)
    # Indexed in bulk first, so the catalog's 3,000 events find the index up to date.
    indexed = index_new_catalog(
        products,
        in_stock=lambda p: any(q > 0 for v in p.variants for *_, q in demo_stock(v.sku)),
        orders=orders,
    )
    created = seed_products(products, correlation_id="demo-load")
    return {
        "products": len(drafts),
        "created": created,
        "skus": len(skus),
        "stock_levels": stocked,
        "products_with_sales": sold,
        "indexed": indexed,
        "history_baskets": baskets,
        "recommendation_model": trained,
    }
