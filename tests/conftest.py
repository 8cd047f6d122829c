"""One local platform for the session: started in this process, called over real HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import circuit_support
import log_watch
import pytest

from helpers import Api
from shop_local.platform import LocalPlatform

log_watch.install()  # every function log of the run, scanned for personal data


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    local = LocalPlatform(
        port=0,
        state_dir=tmp_path_factory.mktemp("platform-state"),
        # A 3-D Secure wait long enough for a test to authenticate, short enough to time out.
        parameter_overrides={
            "PaymentActionTimeoutSeconds": "8",
            # Redelivery after a consumer's failure in seconds, not half a minute (still longer
            # than the consumers' Timeout, as on AWS).
            "EventQueueVisibilityTimeout": "6",
            # A newly trained model is served within a second, not five minutes.
            "RecommendationModelRefreshSeconds": "1",
            # An open circuit probes its dependency after 3 s, not 30.
            "CircuitRecoverySeconds": "3",
            # Tests read their own writes at once; test_caching sets a TTL where it tests one.
            "HotReadCacheSeconds": "0",
        },
    ).start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def api(platform: LocalPlatform) -> Api:
    return Api(platform.url, platform.identity)


@pytest.fixture(autouse=True)
def circuits_closed_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """A circuit a test opened (or failures it left counted) is not the next test's."""
    yield
    if "platform" in request.fixturenames and circuit_support.disturbed():
        circuit_support.reset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `crowd` run after the others, and tests marked `after_suite` (which check
    what the whole run recorded) last of all; a stable sort, so the rest keep their order."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("after_suite") is not None,
            item.get_closest_marker("crowd") is not None,
        )
    )


@pytest.fixture(autouse=True)
def alone_on_the_machine(request: pytest.FixtureRequest) -> None:
    """A crowd test waits until the end-to-end tests `make test` runs beside this suite
    (SHOP_TESTS_BESIDE: their pytest's pid) have finished: hundreds of threads racing on two
    cores that another platform also uses would run functions past their Timeout, and the
    test would see the machine's load rather than the shop's behaviour."""
    beside = os.environ.get("SHOP_TESTS_BESIDE")
    if request.node.get_closest_marker("crowd") is None or not beside:
        return
    while Path(f"/proc/{int(beside)}").exists():
        time.sleep(1)
