"""What `shop metrics` shows: the figures the functions record (shop.metrics, tallied here in
the platform's memory since it started), every queue's depth (a dead-letter queue's should be
0), and each circuit's state, read from the emulator as CloudWatch would show them on AWS."""

from __future__ import annotations

import threading
from typing import Any

from shop import aws, metrics
from shop.config import circuits_table


class Tally:
    """Every figure recorded since the platform started, by name and dimensions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def record(self, figure: str, value: float, dimensions: dict[str, str]) -> None:
        key = (figure, tuple(sorted(dimensions.items())))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + value

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            counts = sorted(self._counts.items())
        return [
            {"figure": figure, "dimensions": dict(dimensions), "value": value}
            for (figure, dimensions), value in counts
        ]

    def install(self) -> None:
        metrics.observe(self.record)

    def uninstall(self) -> None:
        metrics.forget(self.record)


def queue_depths(queues: dict[str, str]) -> list[dict[str, Any]]:
    """Each queue's messages waiting and in flight, by logical id (URL by logical id)."""
    sqs = aws.client("sqs")
    depths = []
    for logical_id, url in sorted(queues.items()):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths.append(
            {
                "queue": logical_id,
                "dead_letter": "DeadLetter" in logical_id or "Failures" in logical_id,
                "waiting": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            }
        )
    return depths


def circuits() -> list[dict[str, Any]]:
    """Every circuit that ever left CLOSED (a closed one with no record has none)."""
    items = aws.client("dynamodb").scan(TableName=circuits_table(), ConsistentRead=True)["Items"]
    return sorted(
        ({"circuit": i["id"]["S"], "state": i["state"]["S"]} for i in items),
        key=lambda row: row["circuit"],
    )


def report(rows: dict[str, Any]) -> str:
    """The /_local/metrics answer as `shop metrics` prints it."""
    lines = ["figures since the platform started:"]
    for row in rows["figures"] or [{"figure": "(none yet)", "dimensions": {}, "value": 0}]:
        dims = ", ".join(f"{k}={v}" for k, v in row["dimensions"].items())
        lines.append(f"  {row['figure']:<16} {dims:<32} {row['value']:>8g}")
    lines.append("queues (waiting / in flight):")
    for queue in rows["queues"]:
        flag = "  <- dead letters" if queue["dead_letter"] and queue["waiting"] else ""
        lines.append(f"  {queue['queue']:<44} {queue['waiting']:>6} / {queue['in_flight']}{flag}")
    lines.append("circuits:")
    for circuit in rows["circuits"] or [{"circuit": "(all closed)", "state": ""}]:
        lines.append(f"  {circuit['circuit']:<24} {circuit['state']}")
    return "\n".join(lines)
