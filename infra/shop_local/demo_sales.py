"""What the demo shop has sold: the purchase lines of the online-retail data set.

Search ranks by units sold and the recommendation service learns from baskets; both read the
same lines from here. Times are the data set's own ("YYYY-MM-DD HH:MM:SS", which sorts as text),
so a split by time is a comparison of strings.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from shop.recommendations.model import Basket
from shop_local.demo_catalog import DEMO_DATA_PATH, _normalise_code


@dataclass(frozen=True)
class Purchase:
    invoice: str
    sku: str  # the product code, as the demo catalog's SKUs are
    quantity: int
    at: str
    customer: str | None  # None: a guest's order


def purchases(path: Path | None = None) -> Iterator[Purchase]:
    """Every invoice line that sold a product (cancellations, services and fees left out)."""
    with gzip.open(path or DEMO_DATA_PATH, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            invoice = (row.get("InvoiceNo") or "").strip()
            if not invoice or invoice[0] in "Cc":
                continue
            code = _normalise_code(row.get("StockCode") or "")
            try:
                quantity = int(float(row.get("Quantity") or 0))
            except ValueError:
                continue
            if code is None or quantity <= 0:
                continue
            customer = (row.get("CustomerID") or "").strip().removesuffix(".0") or None
            yield Purchase(
                invoice, code, quantity, (row.get("InvoiceDate") or "").strip(), customer
            )


def sku_products(products: Iterable[Mapping[str, object]]) -> dict[str, str]:
    """SKU -> product id, from catalog drafts (`build_demo_catalog()`'s)."""
    owners: dict[str, str] = {}
    for product in products:
        for variant in product["variants"]:  # type: ignore[attr-defined]
            owners[str(variant["sku"])] = str(product["product_id"])
    return owners


def times_ordered(
    owners: Mapping[str, str],
    lines: Iterable[Purchase],
    *,
    since: str = "",
    until: str = "9999",
) -> Counter[str]:
    """Per product id, how many orders (invoice lines) bought it, of the lines with
    since <= at < until. Orders, not units: one wholesale line of 74,215 jars (in the data)
    says little about what the next shopper wants."""
    sold: Counter[str] = Counter()
    for line in lines:
        if since <= line.at < until and line.sku in owners:
            sold[owners[line.sku]] += 1
    return sold


def invoice_baskets(
    owners: Mapping[str, str], lines: Iterable[Purchase], *, until: str = "9999"
) -> list[tuple[str, Basket]]:
    """(invoice, basket) of every invoice before `until`, in time order: its products (each
    once, in line order), its time and its customer id (None for a guest)."""
    products: dict[str, dict[str, None]] = {}
    first: dict[str, Purchase] = {}
    for line in lines:
        product = owners.get(line.sku)
        if product is None or line.at >= until:
            continue
        products.setdefault(line.invoice, {})[product] = None
        first.setdefault(line.invoice, line)
    baskets = [
        (invoice, Basket(first[invoice].customer, first[invoice].at, tuple(found)))
        for invoice, found in products.items()
    ]
    return sorted(baskets, key=lambda pair: pair[1].at)
