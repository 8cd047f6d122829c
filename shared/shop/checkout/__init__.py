"""Checkout sessions and the saga that completes them."""
