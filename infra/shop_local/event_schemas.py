"""Write events/schemas/<EventType>.json from the payload models (shop.event_catalog).

    python -m shop_local.event_schemas        # after changing a payload model

tests/unit/test_event_contracts.py fails while the files and the models disagree."""

from __future__ import annotations

from pathlib import Path

from shop.event_catalog import EVENT_TYPES, schema_text

SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


def expected() -> dict[Path, str]:
    return {SCHEMAS / f"{name}.json": schema_text(payload) for name, payload in EVENT_TYPES.items()}


def write() -> list[Path]:
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for stale in set(SCHEMAS.glob("*.json")) - set(expected()):
        stale.unlink()
    written = []
    for path, text in expected().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
