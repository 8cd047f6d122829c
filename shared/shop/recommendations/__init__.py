"""Recommendations: bought together, for you, and the live session, from item co-occurrence."""
