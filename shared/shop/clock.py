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
    return iso_at(now())


def iso_at(seconds: float) -> str:
    """A moment (seconds since the epoch) as the shop writes times: ISO-8601 UTC, to the
    millisecond, with a Z ("2026-12-01T10:00:00.000Z"), so that times sort as text."""
    moment = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")
