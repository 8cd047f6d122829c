"""Notifications: what the shop tells a customer about their orders, learnt from order events."""
