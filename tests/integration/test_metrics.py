"""The shop's figures: every checkout outcome, decline and refused oversell is written as a
CloudWatch metric in Embedded Metric Format on the function's log, and the local platform's
tally (`GET /_local/metrics`, `shop metrics`) shows the same figures."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from checkout_support import fill_cart, start, stocked_sku, wait_for

from helpers import Api, unique
from shop_local.cli import main
from shop_local.platform import LocalPlatform


def tallied(platform: LocalPlatform) -> dict[str, Any]:
    shown: dict[str, Any] = requests.get(f"{platform.url}/_local/metrics", timeout=30).json()
    return shown


def figure(shown: dict[str, Any], name: str, **dimensions: str) -> float:
    return sum(
        float(row["value"])
        for row in shown["figures"]
        if row["figure"] == name and row["dimensions"] == dimensions
    )


def bought(api: Api, sku: str, quantity: int, card: str = "pm_card_visa") -> dict[str, Any]:
    buyer = unique("buyer")
    fill_cart(api, buyer, {sku: quantity})
    return wait_for(api, buyer, start(api, buyer, card))


def test_checkout_outcomes_declines_and_refused_oversells_are_counted_once_each(
    api: Api, platform: LocalPlatform, capfd: pytest.CaptureFixture[str]
) -> None:
    before = tallied(platform)
    sku = stocked_sku(api, 3)
    assert bought(api, sku, 1)["status"] == "SUCCEEDED"
    assert bought(api, sku, 1, "pm_card_chargeDeclined")["failure"]["code"] == "PAYMENT_DECLINED"
    assert bought(api, stocked_sku(api, 1), 1)["status"] == "SUCCEEDED"
    other = stocked_sku(api, 1)
    buyer = unique("buyer")
    fill_cart(api, buyer, {other: 1})
    api.put(
        f"/admin/inventory/{other}",
        json={"warehouse_id": "wh-co", "quantity": 0},
        user="admin",
        admin=True,
    )  # sold elsewhere between the cart and the checkout
    assert wait_for(api, buyer, start(api, buyer))["failure"]["code"] == "OUT_OF_STOCK"

    after = tallied(platform)
    assert figure(after, "OrdersPlaced") - figure(before, "OrdersPlaced") == 2
    for code in ("PAYMENT_DECLINED", "OUT_OF_STOCK"):
        counted = figure(after, "CheckoutFailed", failure_code=code)
        assert counted - figure(before, "CheckoutFailed", failure_code=code) == 1, code
    assert figure(after, "PaymentDeclined") - figure(before, "PaymentDeclined") == 1
    assert figure(after, "OversellRefused") - figure(before, "OversellRefused") == 1

    # What CloudWatch reads: one EMF document per figure on the function's log.
    documents = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line
    ]
    placed = [d for d in documents if "OrdersPlaced" in d]
    assert len(placed) == 2
    (directive,) = placed[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "shop"
    assert directive["Metrics"] == [{"Name": "OrdersPlaced", "Unit": "Count"}]


def test_shop_metrics_prints_the_figures_the_queues_and_the_circuits(
    platform: LocalPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--state-dir", str(platform.state_dir), "metrics"]) == 0
    printed = capsys.readouterr().out
    assert "figures since the platform started:" in printed
    assert "SearchIndexDeadLetterQueue" in printed
    assert "circuits:" in printed
