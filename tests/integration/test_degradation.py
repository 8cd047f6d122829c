"""The fault matrix: each dependency down, slow past its timeout, and erroring. The shop
answers in the dependency's degraded mode within a bound, its circuit opens (shared state,
CircuitsTable) and stops calling it, one caller alone probes it when the recovery time is up,
and the whole answer is back once the fault clears.

Faults are injected where a guarded call reaches its dependency (shop.faults); everything
around them is the real platform: the gateway, the functions, moto's DynamoDB holding the
circuits, the saga, localstripe.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import circuit_support
import pytest
from checkout_support import ADDRESS, assert_invariants, fill_cart, start, stocked_sku, wait_for
from search_support import create_product, search, until_indexed, word

from helpers import Api, assert_error, emulator_client, unique
from shop import breakers, faults
from shop.breakers import FAILURES_TO_OPEN, Dependency
from shop.errors import DependencyUnavailable
from shop.inventory.audit import audit
from shop_local.platform import LocalPlatform

MODES = ("down", "slow", "erroring")
# The suite's CircuitRecoverySeconds (tests/conftest.py), in whole seconds (the circuits'
# clock): a circuit is open at least 2 s, then one caller probes.
RECOVERY_SECONDS = 3
# A degraded answer must come well before a hanging dependency would have answered: its
# timeout, plus the time the local platform takes to answer anything on a busy machine.
SLACK_SECONDS = 3.0


# While a test checks what an open circuit does, its recovery time is this long, so that a
# slow moment of the machine cannot make the probe due halfway through; `until_probe_is_due`
# gives it back its 3 s.
HELD_OPEN_SECONDS = 600


@pytest.fixture(autouse=True)
def circuits(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert platform.environment["CIRCUIT_RECOVERY_SECONDS"] == str(RECOVERY_SECONDS)
    for variables in platform.functions.environments.values():
        monkeypatch.setitem(variables, "CIRCUIT_RECOVERY_SECONDS", str(HELD_OPEN_SECONDS))
    circuit_support.reset()
    faults.clear()
    yield
    faults.clear()
    circuit_support.reset()


def stored_state(platform: LocalPlatform, dependency: Dependency) -> str | None:
    """The circuit as every function instance sees it: its item in CircuitsTable."""
    item = (
        emulator_client(platform, "dynamodb")
        .get_item(
            TableName=platform.environment["CIRCUITS_TABLE"],
            Key={"id": {"S": dependency.name}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item["state"]["S"] if item else None


def until_probe_is_due(platform: LocalPlatform) -> None:
    for variables in platform.functions.environments.values():
        variables["CIRCUIT_RECOVERY_SECONDS"] = str(RECOVERY_SECONDS)
    time.sleep(RECOVERY_SECONDS + 0.1)


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# ----------------------------------------------------------------------------- search
@pytest.fixture(scope="module")
def indexed(api: Api) -> dict[str, str]:
    """A product of its own category, found by its own word."""
    category, term = f"deg-{word(6)}", word()
    product = create_product(api, f"{term.title()} lamp", category=category)
    until_indexed(api, term, {product["product_id"]})
    return {"category": category, "term": term, "product_id": product["product_id"]}


@pytest.mark.parametrize("mode", MODES)
def test_search_serves_the_last_results_then_the_category_while_its_engine_is_faulty(
    api: Api, platform: LocalPlatform, indexed: dict[str, str], mode: str
) -> None:
    good = search(api, indexed["term"])
    assert [hit["product_id"] for hit in good["items"]] == [indexed["product_id"]]
    assert good["degraded"] is False

    faults.break_dependency("search", mode)
    answered = api.get(f"/search?q={indexed['term']}")
    page, seconds = timed(lambda: search(api, indexed["term"]))
    assert answered.status_code == 200
    assert answered.headers["Cache-Control"] == "no-store"  # nobody keeps a degraded answer
    assert page["degraded"] is True
    assert page["items"] == good["items"]  # the last good answer to the same query
    assert seconds < breakers.SEARCH.timeout() + SLACK_SECONDS

    never_asked = search(api, "", category=indexed["category"])
    assert never_asked["degraded"] is True
    assert [hit["product_id"] for hit in never_asked["items"]] == [indexed["product_id"]]
    suggested = api.get(f"/search/suggest?q={indexed['term'][:5]}").json()
    assert suggested == {"suggestions": [], "degraded": True}

    for _ in range(FAILURES_TO_OPEN):
        search(api, indexed["term"])
    assert stored_state(platform, breakers.SEARCH) == "OPEN"
    reached = faults.calls_reaching("search")
    page, seconds = timed(lambda: search(api, indexed["term"]))
    assert page["degraded"] is True
    assert faults.calls_reaching("search") == reached  # open: the engine is left alone
    assert seconds < SLACK_SECONDS

    faults.repair_dependency("search")
    until_probe_is_due(platform)
    recovered = search(api, indexed["term"])
    assert recovered["degraded"] is False
    assert recovered["items"] == good["items"]
    assert stored_state(platform, breakers.SEARCH) == "CLOSED"


def test_one_caller_alone_probes_an_engine_that_is_still_down(
    api: Api, platform: LocalPlatform, indexed: dict[str, str]
) -> None:
    faults.break_dependency("search", "down")
    for _ in range(FAILURES_TO_OPEN):
        search(api, indexed["term"])
    assert stored_state(platform, breakers.SEARCH) == "OPEN"
    until_probe_is_due(platform)
    reached = faults.calls_reaching("search")

    with ThreadPoolExecutor(20) as crowd:
        pages = list(crowd.map(lambda _: search(api, indexed["term"]), range(20)))

    assert all(page["degraded"] for page in pages)
    assert faults.calls_reaching("search") == reached + 1  # one probe, not a herd
    assert stored_state(platform, breakers.SEARCH) == "OPEN"  # the probe failed: open again


# ----------------------------------------------------------------------------- payments
@pytest.mark.parametrize("mode", MODES)
def test_checkout_fails_fast_holding_nothing_while_stripe_is_faulty(
    api: Api, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("PAYMENTS_TIMEOUT_SECONDS", "0.5")  # what the SDK's timeouts would be
    sku = stocked_sku(api, 5)
    buyer = unique("buyer")
    cart = fill_cart(api, buyer, {sku: 1})
    faults.break_dependency("payments", mode)

    # In flight when Stripe fails: the saga's retries of the authorization trip the circuit,
    # and the checkout ends with the reason, its stock and order given back.
    checkout_id = start(api, buyer)
    view = wait_for(api, buyer, checkout_id)
    assert view["status"] == "FAILED"
    assert view["failure"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert_invariants(api, platform, buyer, checkout_id, view, cart)
    assert stored_state(platform, breakers.PAYMENTS) == "OPEN"

    # The next one is refused at once: no checkout, nothing held, the cart as it was.
    reached = faults.calls_reaching("payments")
    refused, seconds = timed(
        lambda: api.post(
            "/checkout",
            json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
            user=buyer,
            headers={"Idempotency-Key": unique("key")},
        )
    )
    assert_error(refused, 503, "PAYMENT_PROVIDER_UNAVAILABLE")
    assert 1 <= int(refused.headers["Retry-After"]) <= HELD_OPEN_SECONDS  # when it probes
    assert seconds < SLACK_SECONDS
    assert faults.calls_reaching("payments") == reached
    assert api.get(f"/inventory/{sku}").json()["available"] == 5
    assert api.get("/cart", user=buyer).json()["lines"] == cart["lines"]
    assert audit() == []

    faults.repair_dependency("payments")
    until_probe_is_due(platform)
    recovered = start(api, buyer)  # its authorization is the probe
    view = wait_for(api, buyer, recovered)
    assert view["status"] == "SUCCEEDED"
    assert_invariants(api, platform, buyer, recovered, view, cart)
    assert stored_state(platform, breakers.PAYMENTS) == "CLOSED"


# ----------------------------------------------------------------------------- recommendations
@pytest.mark.parametrize("mode", MODES)
def test_a_shopper_is_shown_the_bestsellers_while_the_recommendation_store_is_faulty(
    api: Api, platform: LocalPlatform, indexed: dict[str, str], mode: str
) -> None:
    shopper = unique("shopper")  # a new one: their own are the popular ones too
    own = api.get("/recommendations?limit=5", user=shopper).json()
    assert own["degraded"] is False
    assert own["items"]  # at least the indexed product, stocked and listed

    faults.break_dependency("recommendation-store", mode)
    shown, seconds = timed(lambda: api.get("/recommendations?limit=5", user=shopper))
    assert shown.status_code == 200
    assert shown.json()["degraded"] is True
    assert shown.json()["items"]
    assert {i["reason"] for i in shown.json()["items"]} == {"popular"}
    assert seconds < breakers.RECOMMENDATION_STORE.timeout() + SLACK_SECONDS

    for _ in range(FAILURES_TO_OPEN):
        api.get("/recommendations?limit=5", user=shopper)
    assert stored_state(platform, breakers.RECOMMENDATION_STORE) == "OPEN"
    reached = faults.calls_reaching("recommendation-store")
    assert api.get("/recommendations?limit=5", user=shopper).json()["degraded"] is True
    assert faults.calls_reaching("recommendation-store") == reached

    faults.repair_dependency("recommendation-store")
    until_probe_is_due(platform)
    assert api.get("/recommendations?limit=5", user=shopper).json()["degraded"] is False
    assert stored_state(platform, breakers.RECOMMENDATION_STORE) == "CLOSED"


# ----------------------------------------------------------------------------- catalog reads
@pytest.mark.parametrize("mode", MODES)
def test_the_cart_shows_last_known_prices_with_their_age_while_the_catalog_is_faulty(
    api: Api, platform: LocalPlatform, mode: str
) -> None:
    sku = stocked_sku(api, 5)
    buyer = unique("buyer")
    cart = fill_cart(api, buyer, {sku: 2})  # its GET read the prices: now they are known
    assert cart["degraded"] is False
    assert cart["price_age_seconds"] is None

    faults.break_dependency("catalog", mode)
    shown, seconds = timed(lambda: api.get("/cart", user=buyer))
    assert shown.status_code == 200
    view = shown.json()
    assert view["degraded"] is True
    assert 0 <= view["price_age_seconds"] <= 60
    assert view["lines"] == cart["lines"]
    assert view["totals"] == cart["totals"]
    assert seconds < breakers.CATALOG.timeout() + SLACK_SECONDS

    # Last known prices are shown, never charged: the checkout waits, holding nothing.
    refused = api.post(
        "/checkout",
        json={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
        user=buyer,
        headers={"Idempotency-Key": unique("key")},
    )
    assert_error(refused, 503, "DEPENDENCY_UNAVAILABLE")
    assert "Retry-After" in refused.headers
    assert api.get(f"/inventory/{sku}").json()["available"] == 5

    # A cart of a SKU whose price was never read here has nothing to show: 503, not a guess.
    faults.repair_dependency("catalog")
    stranger, unread = unique("buyer"), stocked_sku(api, 1)
    added = api.post("/cart/items", json={"sku": unread, "quantity": 1}, user=stranger)
    assert added.status_code == 200, added.text
    faults.break_dependency("catalog", mode)
    assert_error(api.get("/cart", user=stranger), 503, "DEPENDENCY_UNAVAILABLE")

    for _ in range(FAILURES_TO_OPEN):
        api.get("/cart", user=buyer)
    assert stored_state(platform, breakers.CATALOG) == "OPEN"
    reached = faults.calls_reaching("catalog")
    assert api.get("/cart", user=buyer).json()["degraded"] is True
    assert faults.calls_reaching("catalog") == reached

    faults.repair_dependency("catalog")
    until_probe_is_due(platform)
    recovered = api.get("/cart", user=buyer).json()
    assert recovered["degraded"] is False
    assert recovered["lines"] == cart["lines"]
    assert stored_state(platform, breakers.CATALOG) == "CLOSED"


# ----------------------------------------------------------------------------- the deadline
def test_calls_waiting_for_a_slot_are_not_counted_as_the_dependency_being_slow(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crowd in one instance (the local platform serves every request from one process)
    queues for the instance's call slots. The deadline is the dependency's: three waves of
    calls that each answer in 0.3 s, within the 0.5 s timeout, all succeed, the later waves
    after waiting their turn."""
    monkeypatch.setenv("CIRCUITS_TABLE", platform.environment["CIRCUITS_TABLE"])
    crowd = Dependency(unique("crowd"), 0.5, DependencyUnavailable)
    calls = breakers._CALLS_IN_FLIGHT * 3

    def read() -> str:
        time.sleep(0.3)
        return "answered"

    with ThreadPoolExecutor(calls) as pool:
        answers = list(pool.map(lambda _: breakers.call(crowd, read), range(calls)))
    assert answers == ["answered"] * calls
    assert not circuit_support.disturbed()


def test_a_caller_finding_every_slot_held_by_unanswered_calls_fails_within_twice_the_timeout(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However busy the collector is meanwhile: another thread allocating all along makes it
    collect every few milliseconds, and only the time of those collections is not counted."""
    monkeypatch.setenv("CIRCUITS_TABLE", platform.environment["CIRCUITS_TABLE"])
    hanging = Dependency(unique("hanging"), 0.5, DependencyUnavailable)
    answer = threading.Event()
    collections_before = young_collections()
    churning = threading.Thread(target=allocate_until, args=(answer,), daemon=True)
    churning.start()
    try:
        with ThreadPoolExecutor(breakers._CALLS_IN_FLIGHT) as pool:
            held = [
                pool.submit(breakers.call, hanging, lambda: answer.wait(30))
                for _ in range(breakers._CALLS_IN_FLIGHT)
            ]
            time.sleep(0.1)  # every slot taken
            try:
                started = time.monotonic()
                with pytest.raises(DependencyUnavailable):
                    breakers.call(hanging, lambda: True)
                seconds = time.monotonic() - started
                for call in held:
                    with pytest.raises(DependencyUnavailable):
                        call.result()
            finally:
                answer.set()
    finally:
        answer.set()
        churning.join()
    assert young_collections() > collections_before + 10  # the collector was busy throughout
    assert seconds < 2 * hanging.timeout() + SLACK_SECONDS


class _SlowToCollect:
    """Garbage whose collection lasts `seconds`: its finalizer runs inside the collection,
    as the walk over half a million objects does on the local platform."""

    def __init__(self, seconds: float, finalized: threading.Event) -> None:
        self.seconds = seconds
        self.finalized = finalized
        self.itself = self  # a cycle: only the collector frees it

    def __del__(self) -> None:
        time.sleep(self.seconds)
        self.finalized.set()


def allocate_until(done: threading.Event) -> None:
    """Garbage in cycles, as fast as one thread makes it: the collector runs every few ms."""
    while not done.is_set():
        for _ in range(1000):
            cycle: list[Any] = []
            cycle.append(cycle)


def young_collections() -> int:
    return int(gc.get_stats()[0]["collections"])


def collect_for(seconds: float) -> None:
    finalized = threading.Event()
    _SlowToCollect(seconds, finalized)
    while not finalized.is_set():
        gc.collect()  # returns at once while another thread's collection is under way
        finalized.wait(0.05)


def test_a_garbage_collection_during_a_call_is_not_counted_as_the_dependency_being_slow(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local platform's one process holds every table and execution: a full collection
    stops it for about half a second, and one timed out a catalog read under a crowd of
    buyers. A call that the dependency answered in time succeeds, however long the
    collections around it were."""
    monkeypatch.setenv("CIRCUITS_TABLE", platform.environment["CIRCUITS_TABLE"])
    paused = Dependency(unique("paused"), 0.3, DependencyUnavailable)

    def read() -> str:
        collect_for(2 * paused.timeout())
        time.sleep(paused.timeout() / 10)  # the dependency's own part, well within its timeout
        return "answered"

    assert breakers.call(paused, read) == "answered"
    assert not circuit_support.disturbed()


def test_a_garbage_collection_while_calls_wait_for_a_slot_is_not_counted_against_the_dependency(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every slot held by calls the dependency answers once a collection is over: the caller
    waiting for a slot, and the calls holding them, all get their answers."""
    monkeypatch.setenv("CIRCUITS_TABLE", platform.environment["CIRCUITS_TABLE"])
    paused = Dependency(unique("paused"), 0.3, DependencyUnavailable)
    collected = threading.Event()
    with ThreadPoolExecutor(breakers._CALLS_IN_FLIGHT + 1) as pool:
        held = [
            pool.submit(breakers.call, paused, lambda: collected.wait(30) and "answered")
            for _ in range(breakers._CALLS_IN_FLIGHT)
        ]
        time.sleep(0.1)  # every slot taken
        waiting = pool.submit(breakers.call, paused, lambda: "answered")
        collect_for(2 * paused.timeout())
        collected.set()
        assert [call.result() for call in held] == ["answered"] * breakers._CALLS_IN_FLIGHT
        assert waiting.result() == "answered"
    assert not circuit_support.disturbed()


# ----------------------------------------------------------------------------- load shedding
def test_a_function_at_its_reserved_concurrency_answers_429_with_retry_after_at_once(
    api: Api, platform: LocalPlatform, indexed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # BrowsingConcurrency=2 for search, as the template would reserve it; each search held
    # for its engine's timeout, so that the crowd finds both instances busy.
    monkeypatch.setattr(
        platform.functions.specs["SearchProductsFunction"], "reserved_concurrency", 2
    )
    faults.break_dependency("search", "slow")

    with ThreadPoolExecutor(8) as crowd:
        answers = list(
            crowd.map(lambda _: timed(lambda: api.get(f"/search?q={indexed['term']}")), range(8))
        )

    served = [response for response, _ in answers if response.status_code == 200]
    shed = [(response, seconds) for response, seconds in answers if response.status_code == 429]
    assert len(served) + len(shed) == len(answers)  # nothing else: no 5xx, no timeout
    assert 2 <= len(served) < len(answers)
    for response, seconds in shed:
        assert_error(response, 429, "THROTTLED")
        assert response.headers["Retry-After"] == "1"
        assert seconds < breakers.SEARCH.timeout()  # refused at once, not after a wait
    faults.repair_dependency("search")
    assert api.get(f"/search?q={indexed['term']}").status_code == 200  # room again
