"""Every sample event in events/ runs through its real handler on the local platform: the
samples stay usable (`sam local invoke -e`) as the code changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shop_local.platform import LocalPlatform

EVENTS = Path(__file__).resolve().parents[2] / "events"
# Run in this order: the create makes the product the get then reads.
ORDER = ["CreateProductFunction", "GetProductFunction", "PublishProductChangesFunction"]
SAMPLES = sorted(
    (p for p in EVENTS.glob("*/*.json") if p.parent.name != "schemas"),
    key=lambda p: [*ORDER, p.stem].index(p.stem),
)


def test_every_function_with_a_sample_is_in_the_template(platform: LocalPlatform) -> None:
    assert SAMPLES
    assert {p.stem for p in SAMPLES} <= set(platform.functions.specs)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_a_sample_event_runs_through_its_handler(platform: LocalPlatform, sample: Path) -> None:
    result = platform.functions.invoke(sample.stem, json.loads(sample.read_text()))
    if isinstance(result, dict) and "statusCode" in result:
        assert result["statusCode"] in (200, 201), result
    if isinstance(result, dict) and "batchItemFailures" in result:  # queue and stream sources
        assert result["batchItemFailures"] == [], result
