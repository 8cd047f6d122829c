"""Catalog and order events (from the SearchIndexQueue) -> the search index, one write per
batch. The index is a view rebuilt from the tables, so the edge needs no dedup records."""

from shop.catalog.events import ProductChanged
from shop.consumers import view_consumer
from shop.orders.events import OrderPlaced
from shop.search.service import apply_changes

handler = view_consumer("index_products", [ProductChanged, OrderPlaced], apply_changes)
