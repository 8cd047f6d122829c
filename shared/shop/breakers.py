"""Circuit breakers: one per dependency the shop can serve without for a while.

A dependency that fails (or answers slower than its timeout) `FAILURES_TO_OPEN` times in a
row opens its circuit: for `recovery_seconds` nobody calls it, and each caller answers in its
declared degraded mode at once instead of waiting on it. Then one caller, and only one across
every function instance (a conditional write elects it), probes it: a success closes the
circuit, a failure opens it again.

The mechanism is Powertools' circuit breaker (`aws_lambda_powertools.utilities.
circuit_breaker`), its state in `CircuitsTable`: shared by every instance, written only on a
transition (the healthy path only reads it, at most every `CIRCUIT_STATE_CACHE_SECONDS`).
What this module adds is the shop's side of it:

- a timeout on every guarded call, enforced here and counted from when the call is made: a
  read that has not answered by then is abandoned (its thread finishes on its own) and
  counted as a failure, so a slow dependency costs a caller at most its timeout (twice it
  while every slot is held by calls it has not answered), and nothing once its circuit is open;
  time the interpreter spent collecting garbage is not counted (up to
  `COLLECTIONS_NOT_COUNTED_SECONDS` per wait; see `_Collections`);
- which errors count (the dependency's own unavailability, never a business answer such as
  a declined card or an unknown product);
- one error for "unavailable or open", the dependency's own (`DependencyUnavailable`,
  `PaymentProviderUnavailable`), so a caller has one thing to catch for its degraded mode.

The degraded modes themselves live with each service (search, recommendations, cart, checkout);
docs/operations.md lists them.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_until_done
from contextvars import copy_context
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from aws_lambda_powertools.utilities.circuit_breaker import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    CircuitTransition,
    circuit_breaker,
)
from aws_lambda_powertools.utilities.circuit_breaker.persistence import (
    CircuitBreakerDynamoDBPersistence,
)

from shop import aws, faults, metrics
from shop.config import circuits_table
from shop.errors import DependencyUnavailable, PaymentProviderUnavailable, ShopError
from shop.observability import get_logger, in_current_trace, traced

logger = get_logger("breakers")

FAILURES_TO_OPEN = 5  # consecutive, per function instance
DEFAULT_RECOVERY_SECONDS = 30  # how long an open circuit waits before its probe
DEFAULT_STATE_CACHE_SECONDS = 5  # how stale an instance's view of a circuit may be
_CALLS_IN_FLIGHT = 16  # per dependency and instance, abandoned slow calls included
# Garbage collections inside a wait extend its deadline by at most this: more than the longest
# full collection seen on the local platform (about 1 s), and a bound should a finalizer hang.
COLLECTIONS_NOT_COUNTED_SECONDS = 2.0


@dataclass(frozen=True)
class Dependency:
    """Something the shop calls that can be down, slow or erroring."""

    name: str  # the circuit's name, in CircuitsTable and in logs and metrics
    timeout_seconds: float  # slower than this is a failure (`<NAME>_TIMEOUT_SECONDS` overrides)
    unavailable: type[ShopError]  # what a caller sees when it fails or its circuit is open
    deadline: bool = True  # enforce the timeout here; False: the client's own timeouts do

    def timeout(self) -> float:
        override = os.environ.get(f"{self.name.upper().replace('-', '_')}_TIMEOUT_SECONDS")
        return float(override) if override else self.timeout_seconds


# The search engine (Tantivy in process, OpenSearch over HTTPS).
SEARCH = Dependency("search", 1.0, DependencyUnavailable)
# The recommendation store: a shopper's history and session (RecommendationsTable).
RECOMMENDATION_STORE = Dependency("recommendation-store", 0.5, DependencyUnavailable)
# Catalog reads from other services: what a SKU costs and whether it is sold (CatalogTable).
CATALOG = Dependency("catalog", 0.5, DependencyUnavailable)
# Stripe. Its SDK's own timeouts bound every call (shop.payments.service): a payment call
# is never abandoned here, because an abandoned one could still move money.
PAYMENTS = Dependency("payments", 30.0, PaymentProviderUnavailable, deadline=False)

DEPENDENCIES = (SEARCH, RECOMMENDATION_STORE, CATALOG, PAYMENTS)


class DependencyTimedOut(TimeoutError):
    pass


def _failures(dependency: Dependency) -> tuple[type[Exception], ...]:
    """What counts as the dependency failing: its own unavailability, a timeout, a refused
    connection. Anything else (a declined card, a product that does not exist, another
    dependency's slow moment) passes through without touching the circuit."""
    return (dependency.unavailable, TimeoutError, ConnectionError, faults.InjectedDependencyFault)


def recovery_seconds() -> int:
    return int(os.environ.get("CIRCUIT_RECOVERY_SECONDS", DEFAULT_RECOVERY_SECONDS))


def _state_cache_seconds() -> int:
    return int(os.environ.get("CIRCUIT_STATE_CACHE_SECONDS", DEFAULT_STATE_CACHE_SECONDS))


@cache
def store(table: str) -> CircuitBreakerDynamoDBPersistence:
    return CircuitBreakerDynamoDBPersistence(table_name=table, boto3_client=aws.client("dynamodb"))


@cache
def _calls(dependency: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_CALLS_IN_FLIGHT, thread_name_prefix=f"call-{dependency}")


class _Answered:
    """How many calls to a dependency have come back (answered or failed) in this instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


@cache
def _answered(dependency: str) -> _Answered:
    return _Answered()


class _Collections:
    """Seconds this interpreter has spent in garbage collections, every thread stopped.

    Such a pause is the caller's process standing still, not the dependency being slow: on
    the local platform, whose one process holds every table and execution, a full collection
    takes about half a second, and it timed out a catalog read under a crowd of buyers (a
    503 at checkout). A deadline is extended by the pauses that fell inside it."""

    def __init__(self) -> None:
        # (seconds of the collections finished, when the one under way began): one attribute,
        # so a reader on another thread sees both from the same moment.
        self._state: tuple[float, float | None] = (0.0, None)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        # Collections never overlap: CPython starts none while one is under way.
        finished, began = self._state
        if phase == "start":
            self._state = (finished, time.monotonic())
        elif began is not None:
            self._state = (finished + time.monotonic() - began, None)

    @property
    def seconds(self) -> float:
        """Until now, the one under way included (its finalizers may let a thread run)."""
        finished, began = self._state
        return finished + (0.0 if began is None else time.monotonic() - began)


_collections = _Collections()
gc.callbacks.append(_collections)


type _Moment = tuple[float, float]  # (time.monotonic(), _collections.seconds) then


def _moment() -> _Moment:
    return time.monotonic(), _collections.seconds


def _wait(future: Future[Any], since: _Moment, timeout: float) -> bool:
    """Whether `future` is done within `timeout` of the moment `since`, the collections' time
    after it not counted (up to COLLECTIONS_NOT_COUNTED_SECONDS)."""
    started, collected_before = since

    def deadline() -> float:
        collected = min(_collections.seconds - collected_before, COLLECTIONS_NOT_COUNTED_SECONDS)
        return started + timeout + collected

    due = deadline()
    while True:
        if wait_until_done([future], timeout=max(0.0, due - time.monotonic())).done:
            return True
        moved = deadline()
        if moved <= due:  # no collection since: the time is up
            return future.done()
        # Wait for the rest, at least a moment: a collection may still be under way (its
        # finalizers let this thread run), moving the deadline as it goes.
        due = max(moved, time.monotonic() + 0.01)


def _config(dependency: Dependency) -> CircuitBreakerConfig:
    return CircuitBreakerConfig(
        failure_threshold=FAILURES_TO_OPEN,
        recovery_timeout=recovery_seconds(),
        success_threshold=1,  # one good probe closes it: the probe is a real shopper's call
        handled_exceptions=_failures(dependency),
        local_cache_max_age=_state_cache_seconds(),
    )


def _log_transition(transition: CircuitTransition) -> None:
    if transition.to_state == CircuitState.OPEN:
        metrics.count("CircuitOpened", circuit=transition.circuit_name)
    logger.warning(
        "circuit changed state",
        extra={
            "circuit": transition.circuit_name,
            "from_state": str(transition.from_state),
            "to_state": str(transition.to_state),
        },
    )


def _attempt[T](dependency: Dependency, call: Callable[[], T]) -> T:
    faults.dependency_reached(dependency.name, dependency.timeout())
    try:
        return call()
    except Exception as error:
        transient = aws.unavailable(error)  # an AWS timeout or throttle, as the saga sees it
        if transient is not None:
            raise transient from error
        raise


def _within_timeout[T](dependency: Dependency, call: Callable[[], T]) -> T:
    if not dependency.deadline:
        return _attempt(dependency, call)
    # The call in the invocation's own context: locally, that is the function's environment
    # and the record of its AWS calls (contextvars do not follow work into a pool's threads).
    attempt = in_current_trace(partial(_attempt, dependency, call))
    began = Future[_Moment]()  # when the call left for the dependency
    answered = _answered(dependency.name)

    def timed_attempt() -> T:
        began.set_result(_moment())
        try:
            return attempt()
        finally:
            answered.add()

    timeout = dependency.timeout()
    future = _calls(dependency.name).submit(copy_context().run, timed_attempt)
    # The deadline is the dependency's: it runs from the moment the call is made, not while
    # it waits for one of this instance's slots (one Lambda instance serves one request at a
    # time; the local platform's one process serves a crowd from the same pool). A wait for a
    # slot fails only when the dependency answered none of the calls holding them within the
    # timeout, the process running all along: that is its slowness.
    while True:
        before = answered.count
        if _wait(began, _moment(), timeout):
            break
        if answered.count == before and future.cancel():
            raise DependencyTimedOut(
                f"{dependency.name}: {_CALLS_IN_FLIGHT} calls unanswered for {timeout} s"
            )
    if not _wait(future, began.result(), timeout):
        raise DependencyTimedOut(f"{dependency.name} did not answer within {timeout} s")
    return future.result()


def call[T](dependency: Dependency, function: Callable[[], T]) -> T:
    """`function()` through the dependency's circuit. Raises
    `dependency.unavailable` when the dependency fails, runs past its timeout, or its circuit
    is open (then without calling it); every other error passes through as it was."""

    def protected() -> T:
        return _within_timeout(dependency, function)

    # Decorated per call: the config reads this instance's settings as they are now; the
    # state (CircuitsTable, and Powertools' per-instance counters) is keyed by the name.
    guarded: Callable[[], T] = circuit_breaker(
        name=dependency.name,
        persistence_store=store(circuits_table()),
        on_transition=_log_transition,
        config=_config(dependency),
    )(protected)
    try:
        with traced(dependency.name):  # a trace shows what each dependency cost
            return guarded()
    except CircuitBreakerOpenError:
        raise _open(dependency, f"{dependency.name} is unavailable; its circuit is open") from None
    except dependency.unavailable:
        raise
    except _failures(dependency) as failure:
        raise dependency.unavailable(f"{dependency.name} is unavailable: {failure}") from None


def _open(dependency: Dependency, message: str, wait: int | None = None) -> ShopError:
    """The dependency's own unavailability, telling the client when to ask again."""
    error = dependency.unavailable(message)
    error.retry_after = max(1, seconds_until_probe(dependency) if wait is None else wait)
    return error


def refuse_while_open(dependency: Dependency, message: str) -> None:
    """Raise the dependency's unavailability now if its circuit is open and its probe not
    yet due: for work that would only hold things to give them back once it meets the
    open circuit (a checkout while Stripe is down holds stock, then releases it)."""
    wait = seconds_until_probe(dependency)
    if wait > 0:
        raise _open(dependency, message, wait)


def seconds_until_probe(dependency: Dependency) -> int:
    """0 unless the circuit is open and its probe not yet due: then callers should not even
    try (a checkout then holds nothing rather than wait for the saga to find Stripe down)."""
    record = store(circuits_table()).get_state(dependency.name)
    if record.state == CircuitState.CLOSED:
        return 0
    opened_at = record.opened_at or 0
    return max(0, opened_at + recovery_seconds() - int(time.time()))
