"""Carts: one per signed-in user (never expires) and one per guest (a token the client keeps)."""
