"""What the functions logged while the suite ran holds no address, email or card number of a
shopper (tests/log_watch.py scanned every record)."""

from __future__ import annotations

import log_watch
import pytest


@pytest.mark.after_suite
def test_the_functions_logs_hold_no_personal_data() -> None:
    assert log_watch.scanned > 0, "the watch saw no function log at all"
    leaks = sorted({(f.function, f.logger, f.kind, f.excerpt) for f in log_watch.findings})
    assert leaks == [], "\n".join(
        f"{fn} ({lg}) logged a {kind}: ...{ex}..." for fn, lg, kind, ex in leaks[:20]
    )
