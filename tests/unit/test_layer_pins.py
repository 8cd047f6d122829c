"""The Lambda layer ships what the suite ran: every package it pins is pinned at the same
version in requirements.lock, and the AWS SDK is among them (the runtime's own boto3 changes
under a deployed function)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)$")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_the_layer_pins_what_the_suite_ran_and_its_own_boto3() -> None:
    layer = pins(REPO / "shared" / "requirements.txt")
    tested = pins(REPO / "requirements.lock")
    # The tracer (shop.observability) needs aws-xray-sdk, which Lambda's runtime lacks.
    assert {"boto3", "botocore", "aws-lambda-powertools", "aws-xray-sdk"} <= set(layer)
    different = {
        name: (pin, tested.get(name)) for name, pin in layer.items() if tested.get(name) != pin
    }
    assert different == {}, f"layer pin vs requirements.lock: {different}"
