"""localstripe, the Stripe API emulator, served from a thread of this process.

In process (rather than as a subprocess) so that the platform can fill the gaps where
localstripe differs from Stripe, each in one small patch here:
- the test payment methods Stripe documents and localstripe lacks (`pm_card_chargeDeclined`,
  `pm_card_authenticationRequired`) map to the test card localstripe treats the same way;
- when a customer completes 3-D Secure on a manual-capture intent, Stripe sends
  `payment_intent.amount_capturable_updated` (or `payment_intent.payment_failed`); localstripe
  sends nothing until capture, so the patch sends what Stripe would;
- `Idempotency-Key` is honoured as Stripe documents (https://docs.stripe.com/idempotency): the
  first response to a POST with a key is saved (errors included, once the endpoint ran) and
  replayed to a repeat with the same parameters (`Idempotent-Replayed: true`); the same key
  with other parameters or on another endpoint is a 400 `idempotency_error`; a key still in
  flight is a 409; keys are pruned after 24 hours, and a pruned key makes a new request.
  localstripe ignores the header, so an SDK retry after a lost response made a second charge;
- the PaymentIntents list takes `created` (gt/gte/lt/lte) and lists newest first, as Stripe's;
- the store is kept in memory: localstripe pickles its whole store to /tmp on every write
  (several times per request: ~700 ms of a checkout after 500 checkouts, measured).
  With a `state_file`, it is loaded at start and written every few seconds when it changed and
  at stop (kill -9 loses at most those seconds); without one, a restart starts empty, as
  before (the platform cleared the store at every start and never read the pickle back).

Test-only, in process only: `lose_responses` makes the emulator do the work of the next
matching requests and then drop the connection before answering, as a lost response does.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from localstripe import resources
from localstripe.errors import UserError

from shop.clock import now

# Stripe's documented test PaymentMethod ids -> a card number localstripe treats the same way
# (localstripe declines charges on ...0341, where Stripe uses ...0002 for this id).
EXTRA_TEST_METHODS = {
    "pm_card_chargeDeclined": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
}

_original_canonical = resources.PaymentMethod._try_get_canonical_test_article.__func__


def _canonical_test_article(cls: Any, /, id: str) -> Any:
    card_number = EXTRA_TEST_METHODS.get(id)
    if card_number is not None:
        return resources.PaymentMethod(
            type="card",
            card={"number": card_number, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
        )
    return _original_canonical(cls, id)


_original_authenticate = resources.PaymentIntent._api_authenticate.__func__


def _authenticate(cls: Any, /, id: str, **kwargs: Any) -> Any:
    from localstripe.webhooks import schedule_webhook

    intent = _original_authenticate(cls, id, **kwargs)
    if intent.status == "requires_capture":
        schedule_webhook(resources.Event("payment_intent.amount_capturable_updated", intent))
    elif intent.status == "requires_payment_method":
        schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
    return intent


_original_list_intents = resources.PaymentIntent._api_list_all.__func__
# Stripe's `created` filter: an exact second, or a dict of any of gt/gte/lt/lte.
_CREATED_BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _list_intents(cls: Any, /, url: str, created: Any = None, **kwargs: Any) -> Any:
    """PaymentIntents newest first, as Stripe lists them, and filtered by `created`."""
    listed = _original_list_intents(cls, url, **kwargs)
    bounds = created if isinstance(created, dict) else {} if created is None else {"eq": created}
    try:
        checks = [(_CREATED_BOUNDS[op], int(value)) for op, value in bounds.items()]
    except (KeyError, TypeError, ValueError):
        raise UserError(400, "Bad request: created") from None
    listed._list = [
        intent
        for intent in reversed(listed._list)
        if all(check(intent.created, bound) for check, bound in checks)
    ]
    return listed


# ------------------------------------------------------------------------------ idempotency
IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60  # Stripe prunes keys once they are 24 hours old
# Answers from checks that run before an endpoint does anything (bad parameters, unknown ids,
# authentication, a conflict): Stripe saves no result for them, so a retry runs again.
_NOT_SAVED = {400, 401, 403, 404, 409, 429}


@dataclass
class _Saved:
    at: float
    method: str
    path: str
    params: list[tuple[str, str]]
    status: int
    body: bytes
    content_type: str


class IdempotencyKeys:
    """Saved first responses by (API key, Idempotency-Key), oldest first, pruned after 24 h."""

    def __init__(self) -> None:
        self.saved: OrderedDict[tuple[str, str], _Saved] = OrderedDict()
        self.in_flight: set[tuple[str, str]] = set()

    def clear(self) -> None:
        self.saved.clear()
        self.in_flight.clear()

    def prune(self) -> None:
        # Every entry, not only the oldest: tests move the platform's clock back and forth, so
        # insertion order is not time order (a key saved at +30 days would shield later ones).
        horizon = now() - IDEMPOTENCY_WINDOW_SECONDS
        for scope in [s for s, saved in self.saved.items() if saved.at <= horizon]:
            del self.saved[scope]


IDEMPOTENCY = IdempotencyKeys()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _idempotency_error(message: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"error": {"type": "idempotency_error", "message": message}}, status=status
    )


def _scope(request: web.Request, key: str) -> tuple[str, str]:
    """Keys are per account: the API key, however it was sent (Basic or Bearer)."""
    from localstripe.server import get_api_key  # after the patches, see _patch

    return str(get_api_key(request)), key


async def _params(request: web.Request) -> list[tuple[str, str]]:
    """The request's parameters, order aside (Stripe compares parameters, not bytes)."""
    body = await request.read()
    if request.content_type == "application/json":
        return [("json", json.dumps(json.loads(body or b"null"), sort_keys=True))]
    return sorted(parse_qsl(body.decode(), keep_blank_values=True))


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:  # Stripe: keys on GET and DELETE have no effect
        return await handler(request)
    if len(key) > 255:
        return _idempotency_error("Idempotency keys are up to 255 characters long.")
    scope = _scope(request, key)
    params = await _params(request)
    IDEMPOTENCY.prune()
    saved = IDEMPOTENCY.saved.get(scope)
    if saved is not None:
        if (saved.method, saved.path) != (request.method, request.path):
            return _idempotency_error(
                "Keys for idempotent requests can only be used for the same endpoint they were"
                f" first used for ('{saved.path}' vs '{request.path}')."
            )
        if saved.params != params:
            return _idempotency_error(
                "Keys for idempotent requests can only be used with the same parameters they"
                f" were first used with. Try using a key other than '{key}' if you meant to"
                " execute a different request."
            )
        return web.Response(
            status=saved.status,
            body=saved.body,
            content_type=saved.content_type,
            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
        )
    if scope in IDEMPOTENCY.in_flight:
        return _idempotency_error(
            "There is currently another in-progress request using this Idempotency-Key.", 409
        )
    IDEMPOTENCY.in_flight.add(scope)
    try:
        try:
            response = await handler(request)
        except UserError as error:  # localstripe's errors, as its own middleware shapes them
            response = error.to_response()
        if isinstance(response, web.Response) and response.status not in _NOT_SAVED:
            IDEMPOTENCY.saved[scope] = _Saved(
                at=now(),
                method=request.method,
                path=request.path,
                params=params,
                status=response.status,
                body=bytes(response.body or b""),  # type: ignore[arg-type]
                content_type=response.content_type,
            )
        return response
    finally:
        IDEMPOTENCY.in_flight.discard(scope)


# ------------------------------------------------------------------------ lost responses
_lost_lock = threading.Lock()


@dataclass
class _LostResponses:
    method: str
    path: re.Pattern[str]
    left: int
    forget_key: bool


_lost: list[_LostResponses] = []


def lose_responses(method: str, path: str, times: int = 1, forget_key: bool = False) -> None:
    """Test-only: the next `times` requests matching `method` and the regex `path` (whole
    path) take effect, then the connection drops before the answer, as when Stripe's
    response is lost on the network. The SDK sees a connection error and may retry.
    `forget_key` also drops the answer saved under the request's key, as if the retry came
    after Stripe pruned it (24 h), or the request had been sent without one."""
    with _lost_lock:
        _lost.append(_LostResponses(method, re.compile(path), times, forget_key))


def clear_faults() -> None:
    with _lost_lock:
        _lost.clear()


def _take_lost(request: web.Request) -> _LostResponses | None:
    with _lost_lock:
        for fault in _lost:
            if fault.method == request.method and fault.path.fullmatch(request.path):
                fault.left -= 1
                if fault.left <= 0:
                    _lost.remove(fault)
                return fault
    return None


def faults_pending() -> int:
    """Lost responses still to come (tests check that a fault really fired)."""
    with _lost_lock:
        return sum(fault.left for fault in _lost)


_writes = 0  # requests that may have changed the store, for StripeEmulator.persist


@web.middleware
async def count_writes_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    global _writes
    if request.method in ("POST", "DELETE"):
        _writes += 1
    return await handler(request)


@web.middleware
async def lost_response_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    fault = _take_lost(request) if _lost else None
    if fault is not None:
        # The work is done (and its answer saved under its key); the caller never hears it.
        if fault.forget_key:
            IDEMPOTENCY.saved.pop(_scope(request, request.headers["Idempotency-Key"]), None)
        if request.transport is not None:
            request.transport.abort()  # aiohttp then writes the answer nowhere
    return response


# ------------------------------------------------------------------------------- the store
# The store's objects by type ("charge", "refund", ...), in the store's own order. Listing a
# type scanned the whole store, and exporting a charge lists its refunds three times: a
# checkout cost grew with every object ever made (~200 ms after 500 checkouts).
_by_type: dict[str, dict[str, Any]] = {}


def _store_set(store: dict[str, Any], key: str, value: Any) -> None:
    dict.__setitem__(store, key, value)
    _by_type.setdefault(key.split(":", 1)[0], {})[key] = value


def _store_delete(store: dict[str, Any], key: str) -> None:
    dict.__delitem__(store, key)
    _by_type.get(key.split(":", 1)[0], {}).pop(key, None)


def _store_clear(store: dict[str, Any]) -> None:
    dict.clear(store)
    _by_type.clear()


def _list_all(
    cls: Any, /, url: str, limit: Any = None, starting_after: Any = None, **kw: Any
) -> Any:
    """localstripe's listing of a type, from the index instead of a scan of the store."""
    if kw:
        raise UserError(400, "Unexpected " + ", ".join(kw.keys()))
    listed = resources.List(url, limit=limit, starting_after=starting_after)
    listed._list = list(_by_type.get(cls.object, {}).values())
    return listed


def _save_store(path: Path) -> None:
    """Write the store and the saved idempotency keys, atomically (a kill leaves the last)."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        pickle.dump((dict(resources.store), IDEMPOTENCY.saved), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def _load_store(path: Path) -> None:
    resources.store.clear()
    IDEMPOTENCY.clear()
    if path.exists():
        with open(path, "rb") as f:
            objects, saved = pickle.load(f)  # our own file, in the platform's state folder
        for key, value in objects.items():
            _store_set(resources.store, key, value)
        IDEMPOTENCY.saved.update(saved)


def _patch() -> None:
    """Install the patches. localstripe's server binds its routes to these functions when it
    is imported, so this runs before that import."""
    resources.PaymentMethod._try_get_canonical_test_article = classmethod(_canonical_test_article)
    resources.PaymentIntent._api_authenticate = classmethod(_authenticate)
    resources.PaymentIntent._api_list_all = classmethod(_list_intents)
    for i, (method, url, _) in enumerate(resources.extra_apis):
        if url == "/v1/payment_intents/{id}/_authenticate":
            resources.extra_apis[i] = (method, url, resources.PaymentIntent._api_authenticate)
    # No pickle of the whole store on every write (StripeEmulator persists it), and an index
    # by type for listings.
    resources.store.clear()
    resources.Store.__setitem__ = _store_set
    resources.Store.__delitem__ = _store_delete
    resources.Store.clear = _store_clear
    resources.Store.dump_to_disk = lambda self: None
    resources.StripeObject._api_list_all = classmethod(_list_all)


_patch()
from localstripe.server import app  # noqa: E402  (after the patches, see _patch)

# localstripe's middlewares: errors, auth, then one that pickles the store after every write.
# The lost-response fault is outermost (it drops whatever answer the rest made); idempotency
# sits after auth (keys are per account), and the per-write pickle goes.
app.middlewares[:] = [
    lost_response_middleware,
    count_writes_middleware,
    *(m for m in app.middlewares if m.__name__ != "save_store_middleware"),
    idempotency_middleware,
]


class StripeEmulator:
    PERSIST_EVERY_SECONDS = 5.0

    def __init__(self, port: int, state_file: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.state_file = state_file
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localstripe", daemon=True)
        self._persisted = -1  # the write count last persisted

    def start(self) -> StripeEmulator:
        if self.state_file is None:
            resources.store.clear()  # a clean start, whatever a previous run left in process
            IDEMPOTENCY.clear()
        else:
            _load_store(self.state_file)
            self._persisted = _writes
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("localstripe did not start")
        if self.state_file is not None:
            self._loop.call_soon_threadsafe(self._persist_periodically)
        return self

    def persist(self) -> None:
        """Write the store now (runs on the emulator's loop, between requests)."""
        if self.state_file is not None and _writes != self._persisted:
            self._persisted = _writes
            _save_store(self.state_file)

    def _persist_periodically(self) -> None:
        self.persist()
        self._loop.call_later(self.PERSIST_EVERY_SECONDS, self._persist_periodically)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        """Have localstripe sign and send its events to `url`, as Stripe would."""
        from localstripe.webhooks import register_webhook

        register_webhook(name, url, secret, None)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()
            self.persist()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
