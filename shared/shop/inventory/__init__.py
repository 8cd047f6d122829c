"""Inventory: stock per SKU per warehouse, reservations held by checkouts, and the ledger."""
