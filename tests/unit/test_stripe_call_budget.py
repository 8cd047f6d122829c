"""A Stripe call, with the SDK's timeouts and retries, ends inside the function that makes it.

A function killed by its Timeout in the middle of a Stripe call leaves Stripe's work unknown to
us (issue 14: the SDK's defaults, 80 s and 2 retries, outlived a 30 s function)."""

from __future__ import annotations

import ast
from pathlib import Path

from shop.payments import service
from shop_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
STRIPE_CALLERS = {"authorize", "capture", "cancel_or_refund", "await_action", "reconcile_orphans"}


def calls_stripe(handler_file: Path) -> bool:
    tree = ast.parse(handler_file.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "shop.payments.service"
        for alias in node.names
    }
    return bool(imported & STRIPE_CALLERS)


def test_every_function_calling_stripe_outlives_one_call_with_all_its_retries() -> None:
    callers = [
        spec
        for spec in Template(ROOT / "template.yaml").functions()
        if calls_stripe(spec.code_uri / (spec.handler.split(".")[0] + ".py"))
    ]
    assert {spec.logical_id for spec in callers} >= {
        "AuthorizePaymentFunction",
        "CapturePaymentFunction",
        "CancelPaymentFunction",
        "AwaitPaymentActionFunction",
        "ReconcilePaymentsFunction",
    }
    budget = service.stripe_call_budget_seconds()
    # Room for the DynamoDB reads and writes around the call, too.
    assert {spec.logical_id: spec.timeout for spec in callers if spec.timeout < budget + 3} == {}


def test_the_budget_counts_every_attempt_and_the_backoff_between_them() -> None:
    per_attempt = service.STRIPE_CONNECT_TIMEOUT_SECONDS + service.STRIPE_READ_TIMEOUT_SECONDS
    attempts = service.STRIPE_NETWORK_RETRIES + 1
    assert service.stripe_call_budget_seconds() == attempts * per_attempt + 0.5 + 1.0
    assert service.stripe_call_budget_seconds() < 80  # the SDK's default timeout, alone
