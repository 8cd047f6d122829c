"""Time, in one place, so that tests (and the local platform) can drive it."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch. `SHOP_CLOCK_OFFSET_SECONDS` shifts it on the local platform
    (tests move time forward instead of waiting); nothing in the deployed template sets it."""
    return time.time() + float(os.environ.get("SHOP_CLOCK_OFFSET_SECONDS", "0"))


def iso_now() -> str:
    return (
        datetime.fromtimestamp(now(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
