"""Every log record a function emits while the suite runs, scanned for personal data.

On AWS what a function logs goes to CloudWatch, readable by whoever operates the shop: a
shopper's address, email or card number must never be in it. The watch patches
`logging.Logger.handle` (every record that is emitted passes through it) and scans the records
made while a function runs (`shop_local.functions.current_function()`): their message, their
structured fields, and their exception text. `tests/integration/test_logs_hold_no_personal_data.py`
reads what it found, after the rest of the suite.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from dataclasses import dataclass

from shop_local.functions import current_function

# What a shopper's data looks like in this suite's requests: UK postcodes (every test
# address has one), street lines, email addresses, card numbers (Stripe's test cards).
PERSONAL = {
    "postcode": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b"),
    "street": re.compile(r"\b\d+ [A-Z][a-z]+ (?:Street|St|Lane|Road|Avenue|Way)\b"),
    "email": re.compile(r"\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b"),
    "card number": re.compile(r"\b(?:4242|4000|5555)(?:[ -]?\d{4}){3}\b"),
}
# Addresses that are nobody's personal data: Stripe's own, in its SDK's error messages.
NOT_PERSONAL = {"support@stripe.com"}
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@dataclass(frozen=True)
class Finding:
    function: str
    logger: str
    kind: str
    excerpt: str


findings: list[Finding] = []
scanned = 0
_lock = threading.Lock()
_original_handle = logging.Logger.handle


def _text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD]
    if record.exc_info and record.exc_info[1] is not None:
        parts += traceback.format_exception(record.exc_info[1])
    return "\n".join(parts)


def _handle(self: logging.Logger, record: logging.LogRecord) -> None:
    function = current_function()
    if function is not None:
        text = _text(record)
        found = [
            Finding(function, record.name, kind, text[max(0, m.start() - 60) : m.end() + 60])
            for kind, pattern in PERSONAL.items()
            for m in pattern.finditer(text)
            if m.group() not in NOT_PERSONAL
        ]
        global scanned
        with _lock:
            scanned += 1
            findings.extend(found)
    _original_handle(self, record)


def install() -> None:
    logging.Logger.handle = _handle  # type: ignore[method-assign]
