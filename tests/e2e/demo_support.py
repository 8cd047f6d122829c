"""What the end-to-end tests share: the `shop` command, and tokens from it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

SHOP = [sys.executable, "-m", "shop_local.cli"]


def shop_token(state: Path, user: str, *, admin: bool = False) -> str:
    """A token from `shop token`, as a developer gets one."""
    command = [*SHOP, "--state-dir", str(state), "token", user, *(["--admin"] if admin else [])]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def check_inventory(state: Path) -> subprocess.CompletedProcess[str]:
    """`shop check-inventory` against the platform of `state`, as an operator runs it."""
    return subprocess.run(
        [*SHOP, "--state-dir", str(state), "check-inventory"],
        capture_output=True,
        text=True,
        check=False,
    )


def until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """The check's first truthy answer, asked again every 0.3 s for up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s")


def available_now(url: str, sku: str) -> int | None:
    """The SKU's stock now, or None if it is not stocked at all: `demo_stock` hashes any SKU,
    so a product another test created looks like the demo's until the inventory says 404."""
    response = requests.get(f"{url}/inventory/{sku}", timeout=30)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return int(response.json()["available"])
