"""The demo shop, started once for every end-to-end test that reads it, as `make run` starts it
(`shop serve --demo` in its own process, with a state folder of its own)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_support import SHOP

from shop_local.platform import free_port

READY_TIMEOUT = 600  # the demo catalogue loads into the emulator first (about 1.5 min here)


@pytest.fixture(scope="session")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    reused = os.environ.get("SHOP_E2E_DEMO_SHOP")
    if reused:
        # A developer's `shop serve --demo` already running ("URL STATE_DIR", its log in
        # STATE_DIR/serve.log): a minute saved on each run while writing browser tests.
        url, state_dir = reused.split()
        yield url, Path(state_dir)
        return
    state = tmp_path_factory.mktemp("demo-state")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "SHOP_"))}
    log_path = state / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SHOP, "--state-dir", str(state), "serve", "--port", str(port), "--demo"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not re.search(r"^shop: ready", log_path.read_text(), re.MULTILINE):
            assert process.poll() is None, log_path.read_text()[-5000:]
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the demo shop did not start: " + log_path.read_text()[-5000:])
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", state
        process.terminate()
        process.wait(timeout=30)
