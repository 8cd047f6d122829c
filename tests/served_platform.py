"""The platform's own fixture template (tests/fixtures/platform), run by `shop serve` in a
process of its own and reached only over HTTP, and what its tests share for talking to it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import requests

from shop_local.platform import control_headers

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "platform"
STACK = "shop-local"  # the platform names resources <stack>-<LogicalId>
REGION = "eu-west-1"
READY_TIMEOUT = 60.0
ADDRESSES = re.compile(r"^shop: API on (\S+)\s+\(AWS emulator on (\S+)\)$", re.MULTILINE)


class Platform(NamedTuple):
    url: str
    aws_endpoint: str
    state_dir: Path

    def client(self, service: str) -> Any:
        return emulator_client(self.aws_endpoint, service)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call one of the platform's /_local/ controls, with this run's secret."""
        response = requests.request(
            method,
            f"{self.url}/_local/{path}",
            json=body,
            headers=control_headers(self.state_dir),
            timeout=15,
        )
        response.raise_for_status()
        return response.json()


@cache
def emulator_client(endpoint: str, service: str) -> Any:
    """A boto3 client of the emulator that owes nothing to this process's environment."""
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
    )
    return session.client(service, endpoint_url=endpoint)


def own_environment() -> dict[str, str]:
    """This environment minus what an in-process platform of another test may have set in it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}


class ServeFailed(Exception):
    pass


@contextmanager
def serve(state_dir: Path, template: Path = FIXTURE / "template.yaml") -> Iterator[Platform]:
    """`shop serve` of `template` until the block ends."""
    stdout_path, stderr_path = state_dir / "stdout.log", state_dir / "stderr.log"
    command = [
        *(sys.executable, "-m", "shop_local.cli"),  # the `shop` console script's entry point
        *("--state-dir", str(state_dir), "serve", "--port", "0"),
        *("--template", str(template)),
        *("--openapi", str(state_dir / "absent-openapi.yaml")),  # the platform copes without
    ]
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command,
            stdout=stdout,
            stderr=stderr,
            cwd=state_dir,
            env={**own_environment(), "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "shop: ready" not in (output := stdout_path.read_text()):
            if process.poll() is not None:
                raise ServeFailed(
                    f"shop serve exited with {process.returncode}:\n{stderr_path.read_text()}"
                )
            if time.monotonic() > deadline:
                raise ServeFailed(
                    f"shop serve not ready in {READY_TIMEOUT}s:\n{stderr_path.read_text()}"
                )
            time.sleep(0.1)
        addresses = ADDRESSES.search(output)
        assert addresses is not None, output
        yield Platform(url=addresses.group(1), aws_endpoint=addresses.group(2), state_dir=state_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def eventually[T](probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout}s for {what}")
        time.sleep(0.1)


def settle(platform: Platform) -> None:
    """Let the event sources deliver what is waiting; the assertions still poll, since a message
    that is in flight (invisible) counts as nothing waiting."""
    platform.control("POST", "settle", {"timeout": 10})


def queue_url(platform: Platform, logical_id: str) -> str:
    url: str = platform.client("sqs").get_queue_url(QueueName=f"{STACK}-{logical_id}")["QueueUrl"]
    return url


def get_item(platform: Platform, logical_id: str, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        platform.client("dynamodb")
        .get_item(TableName=f"{STACK}-{logical_id}", Key={"id": {"S": key}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def drain(platform: Platform, logical_id: str) -> list[dict[str, Any]]:
    """Receive (and delete) what a queue has now: one short long-poll."""
    sqs, url = platform.client("sqs"), queue_url(platform, logical_id)
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages
