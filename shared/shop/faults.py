"""Test-only fault injection for saga steps.

The registry is process memory, empty unless something in the same process fills it. Only the
local platform (infra/shop_local, which the Lambda layer does not ship) and the tests do: no
environment variable, header or parameter of the deployed template can switch a fault on.

Modes, per step (a task module's name, e.g. "capture_payment"):
    "fail"         raise InjectedFault before the step: a failure the saga must compensate
    "fail_once"    raise InjectedTransientFault once, then run normally: a retry must absorb it
    "fail_after_once"  run the step once, then "fail" every later run (its retries)
    "lose_answer_once"  run the step, then raise InjectedTransientFault once, as if its answer
                   was lost: the retry must find the effect done and not repeat it
    "abort_after"  run the step, then stop the execution that called it: a run that stops
                   between steps, for the recovery sweep to find
    hold(step)     (not a mode) the next run to reach `checkpoint(step)` waits there until the
                   test releases it: a window held open for a race to happen in
    "crash_once"   for an event consumer (the step is the consumer's name): once, right after
                   an event's effect, the function dies as a killed process does (SystemExit,
                   which no handler code catches), before the delivery is marked done

A dependency (shop.breakers: "search", "payments", ...) can be broken until `clear()`:
    "down"         every call fails at once, as a connection refused does
    "slow"         every call answers only after the caller's timeout has passed (a guarded
                   call cuts it short there; a Stripe call ends as the SDK's timeout ends it)
    "erroring"     every call fails with the dependency's own 5xx-like error
`calls_reaching(name)` counts the calls that got as far as the dependency, faulty or not.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_faults: dict[str, str] = {}


class InjectedFault(Exception):
    pass


class InjectedTransientFault(Exception):
    pass


class InjectedCrash(SystemExit):
    """Not an Exception: like a killed process, it gets past every `except Exception`."""


class InjectedDependencyFault(Exception):
    """A broken dependency's failure: counted by its circuit as the real ones are."""


class InjectedDependencyDown(InjectedDependencyFault, ConnectionError):
    pass


DEPENDENCY_MODES = ("down", "slow", "erroring")
_broken: dict[str, str] = {}
_reached: dict[str, int] = {}
_unblocked = threading.Event()  # set by clear(): hanging calls end


def inject(step: str, mode: str) -> None:
    if mode not in (
        "fail",
        "fail_once",
        "fail_after_once",
        "lose_answer_once",
        "abort_after",
        "crash_once",
    ):
        raise ValueError(f"unknown fault mode {mode}")
    with _lock:
        _faults[step] = mode


def break_dependency(dependency: str, mode: str) -> None:
    if mode not in DEPENDENCY_MODES:
        raise ValueError(f"unknown dependency fault {mode}")
    with _lock:
        _broken[dependency] = mode
        _unblocked.clear()


def repair_dependency(dependency: str) -> None:
    with _lock:
        _broken.pop(dependency, None)


def dependency_reached(dependency: str, timeout: float) -> None:
    """Where a guarded call reaches its dependency (shop.breakers): a broken one fails here."""
    with _lock:
        _reached[dependency] = _reached.get(dependency, 0) + 1
        mode = _broken.get(dependency)
    if mode == "down":
        raise InjectedDependencyDown(f"{dependency} refused the connection (injected)")
    if mode == "erroring":
        raise InjectedDependencyFault(f"{dependency} answered 500 (injected)")
    if mode == "slow":
        _unblocked.wait(timeout=timeout + 0.5)
        raise InjectedDependencyFault(f"{dependency} answered too late (injected)")


def calls_reaching(dependency: str) -> int:
    """Calls that got as far as the dependency since the last `clear()`."""
    with _lock:
        return _reached.get(dependency, 0)


def clear() -> None:
    with _lock:
        _broken.clear()
        _reached.clear()
        _unblocked.set()
        _faults.clear()
        for _, release in _holds.values():
            release.set()
        _holds.clear()


def before(step: str) -> None:
    with _lock:
        mode = _faults.get(step)
        if mode == "fail_once":
            del _faults[step]
        elif mode == "fail_after_once":
            _faults[step] = "fail"  # this run goes on; the next ones fail
    if mode == "fail":
        raise InjectedFault(f"injected failure in {step}")
    if mode == "fail_once":
        raise InjectedTransientFault(f"injected transient failure in {step}")


def after(step: str, event: dict[str, Any]) -> None:
    with _lock:
        mode = (
            _faults.pop(step, None)
            if _faults.get(step) in ("abort_after", "lose_answer_once")
            else None
        )
    if mode == "lose_answer_once":
        raise InjectedTransientFault(f"injected lost answer of {step}")
    execution = (event.get("execution") or {}).get("arn")
    if mode == "abort_after" and execution:
        from shop import aws

        aws.client("stepfunctions").stop_execution(
            executionArn=execution, error="InjectedAbort", cause=f"after {step}"
        )


_holds: dict[str, tuple[threading.Event, threading.Event]] = {}


def hold(step: str) -> tuple[threading.Event, threading.Event]:
    """(reached, release): `reached` is set when a run waits at the checkpoint; setting
    `release` lets it go on."""
    gate = (threading.Event(), threading.Event())
    with _lock:
        _holds[step] = gate
    return gate


def checkpoint(step: str) -> None:
    with _lock:
        gate = _holds.pop(step, None)
    if gate is not None:
        reached, release = gate
        reached.set()
        release.wait(timeout=120)


def after_effect(consumer: str) -> None:
    with _lock:
        mode = _faults.pop(consumer, None) if _faults.get(consumer) == "crash_once" else None
    if mode == "crash_once":
        raise InjectedCrash(f"injected crash in {consumer} after an effect")


def pending(step: str) -> str | None:
    """The fault still waiting at `step` (tests check that a one-shot fault really fired)."""
    with _lock:
        return _faults.get(step)
