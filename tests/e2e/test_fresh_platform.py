"""Start the platform as `make run` does (a fresh process, a clean state directory), and use it
as a client would: a token from `shop token`, then curl-like HTTP calls."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from demo_support import SHOP, check_inventory

from shop_local.platform import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fresh_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("fresh-state")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}
    log = (state / "serve.log").open("w")
    process = subprocess.Popen(
        [*SHOP, "--state-dir", str(state), "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready" in (state / "serve.log").read_text():
            break
        assert process.poll() is None, (state / "serve.log").read_text()
        time.sleep(0.2)
    else:
        pytest.fail("the platform did not start: " + (state / "serve.log").read_text())
    yield url, state
    process.terminate()
    process.wait(timeout=20)


def shop_token(state: Path, *args: str) -> str:
    return subprocess.run(
        [*SHOP, "--state-dir", str(state), "token", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_an_admin_token_from_the_console_creates_a_product_anyone_can_read(
    fresh_platform: tuple[str, Path],
) -> None:
    url, state = fresh_platform
    admin = {"Authorization": f"Bearer {shop_token(state, 'alice', '--admin')}"}
    product = {
        "name": "Paper Chain Kit",
        "category": "christmas",
        "variants": [
            {
                "sku": "E2E-CHAIN",
                "attributes": {"style": "vintage"},
                "price": {"amount": 295, "currency": "GBP"},
            }
        ],
    }
    created = requests.post(f"{url}/admin/products", json=product, headers=admin, timeout=10)
    assert created.status_code == 201, created.text
    product_id = created.json()["product_id"]
    fetched = requests.get(f"{url}/products/{product_id}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["variants"][0]["sku"] == "E2E-CHAIN"
    listed = requests.get(f"{url}/products?category=christmas", timeout=10).json()
    assert [p["product_id"] for p in listed["items"]] == [product_id]  # the state was clean


def test_a_shopper_token_from_the_console_is_refused_on_admin_routes(
    fresh_platform: tuple[str, Path],
) -> None:
    url, state = fresh_platform
    shopper = {"Authorization": f"Bearer {shop_token(state, 'bob')}"}
    response = requests.post(f"{url}/admin/products", json={}, headers=shopper, timeout=10)
    assert response.status_code == 403
    assert requests.post(f"{url}/admin/products", json={}, timeout=10).status_code == 401


def test_the_openapi_document_is_served(fresh_platform: tuple[str, Path]) -> None:
    url, _ = fresh_platform
    assert requests.get(f"{url}/openapi.json", timeout=10).json()["openapi"].startswith("3.")


def test_the_inventory_check_command_reads_the_running_platform(
    fresh_platform: tuple[str, Path],
) -> None:
    url, state = fresh_platform
    admin = {"Authorization": f"Bearer {shop_token(state, 'alice', '--admin')}"}
    response = requests.put(
        f"{url}/admin/inventory/E2E-CHECK",
        json={"warehouse_id": "wh-e2e", "quantity": 7, "shards": 2},
        headers=admin,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    check = check_inventory(state)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "agree" in check.stdout
