"""Load the demo shop: the real catalog of the online-retail data set, and stock for every SKU.

Products go through the catalog service (so they are validated like any admin's); loading twice
changes nothing. Stock is spread over two warehouses, deterministically per SKU.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shop.catalog.models import NewProduct
from shop.catalog.service import create_product
from shop.errors import Conflict
from shop.inventory.service import seed_stock
from shop_local.demo_catalog import build_demo_catalog

WAREHOUSES = ("wh-london", "wh-manchester")


def demo_stock(sku: str) -> list[tuple[str, str, int]]:
    """20-219 units in London, and in Manchester for about a third of SKUs."""
    h = zlib.crc32(sku.encode())
    levels = [(sku, WAREHOUSES[0], 20 + h % 200)]
    if h % 3 == 0:
        levels.append((sku, WAREHOUSES[1], 10 + (h // 7) % 90))
    return levels


def load_demo() -> dict[str, Any]:
    drafts = [NewProduct.model_validate(d) for d in build_demo_catalog()]

    def create(draft: NewProduct) -> bool:
        try:
            create_product(draft, correlation_id="demo-load")
            return True
        except Conflict:
            return False  # loaded before

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = sum(pool.map(create, drafts))
    skus = [v.sku for d in drafts for v in d.variants]
    stocked = 0
    if created:
        stocked = seed_stock(level for sku in skus for level in demo_stock(sku))
    return {"products": len(drafts), "created": created, "skus": len(skus), "stock_levels": stocked}
