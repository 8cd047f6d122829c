"""What `make run` does in a flash sale: `shop flash-sale-demo` against the running demo shop,
as the README tells a developer to run it. An admin opens a sale of 50 units, 500 shoppers
enter at once, exactly 50 win and buy at the sale price, 450 are told they lost, and stock and
the inventory ledger agree (the command checks each, and exits 1 if one does not hold)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from demo_support import SHOP, check_inventory

pytestmark = pytest.mark.e2e


def test_500_shoppers_enter_a_50_unit_flash_sale_on_the_demo_shop_and_exactly_50_buy(
    demo_shop: tuple[str, Path],
) -> None:
    _, state = demo_shop
    demo = subprocess.run(
        [*SHOP, "--state-dir", str(state), "flash-sale-demo", "--units", "50", "--shoppers", "500"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = demo.stdout
    assert "500 shoppers entered at once: 500 tickets" in report
    assert re.search(r"50 won, 400 told LOST at once, 50 waiting", report), report
    assert "50 orders, unit prices {499: 50}" in report
    assert re.search(r"50 won, 450 lost; stock of \S+ 60 -> 10; inventory ledger: agrees", report)
    assert "every invariant held" in report
    assert check_inventory(state).returncode == 0
