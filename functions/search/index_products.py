"""Catalog and order events (from the SearchIndexQueue) -> the search index."""

from shop.catalog.events import ProductChanged
from shop.consumers import event_consumer
from shop.orders.events import OrderPlaced
from shop.search.service import count_sale, index_product_change

handler = event_consumer(
    "index_products",
    {ProductChanged: index_product_change, OrderPlaced: count_sale},
)
