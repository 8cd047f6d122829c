"""Payments: Stripe PaymentIntents with manual capture, made safe to repeat by our own records."""
