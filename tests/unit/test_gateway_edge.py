"""The local gateway's own edge: it answers only when the platform is ready, and the `shop`
commands that need a running platform say so in one line when there is none."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shop_local.gateway import RETRY_AFTER_SECONDS, Gateway
from shop_local.platform import PLATFORM_FILE, free_port
from shop_local.template import Route


class EchoFunctions:
    """Stands in for the platform's functions: answers with the event it was given."""

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"params": event["pathParameters"]})}


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(
        ("127.0.0.1", 0),
        [Route("GET", "/things/{thing_id}", "GetThing", None)],
        EchoFunctions(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no route has an authorizer
        {("GET", "/_local/health"): lambda _body, _headers: (200, {"status": "ok"})},
        ready=False,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(gateway: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.server_address[1]}{path}"


def test_api_routes_answer_503_with_retry_after_until_the_platform_is_ready(
    gateway: Gateway,
) -> None:
    loading = requests.get(url(gateway, "/things/t-1"), timeout=5)
    assert loading.status_code == 503
    assert loading.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert loading.json()["error"]["code"] == "NOT_READY"
    assert requests.get(url(gateway, "/_local/health"), timeout=5).status_code == 200

    gateway.ready.set()
    ready = requests.get(url(gateway, "/things/t%2D1"), timeout=5)
    assert ready.status_code == 200
    assert ready.json() == {"params": {"thing_id": "t-1"}}  # decoded, as API Gateway does


def test_check_inventory_against_a_stopped_platform_says_so_in_one_line(tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    (tmp_path / PLATFORM_FILE).write_text(
        json.dumps({"url": gone, "aws_endpoint": gone, "environment": {}})
    )
    result = subprocess.run(
        [sys.executable, "-m", "shop_local.cli", "--state-dir", str(tmp_path), "check-inventory"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"no running platform at {gone} (start it with `shop serve`)"
    ]
