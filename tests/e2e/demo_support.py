"""What the end-to-end tests share: the `shop` command, and tokens from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
