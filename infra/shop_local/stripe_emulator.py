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
  (several times per request: ~700 ms of a checkout after 500 checkouts, measured). With a
  state folder, each write request's changes are journaled before it is answered
  (shop_local.persistence.Journal), so a restart, even after `kill -9`, finds every payment
  the shop was told about; without one, a start is empty.

Test-only, in process only: `lose_responses` makes the emulator do the work of the next
matching requests and then drop the connection before answering, as a lost response does.
"""

from __future__ import annotations

import asyncio
import io
import json
import operator
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
from shop_local.persistence import Journal

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
            _scopes.add(scope)
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
        _refused.clear()


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
        return sum(fault.left for fault in [*_lost, *_refused])


@web.middleware
async def lost_response_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    fault = _take_lost(request) if _lost else None
    if fault is not None:
        # The work is done (and its answer saved under its key); the caller never hears it.
        if fault.forget_key:
            scope = _scope(request, request.headers["Idempotency-Key"])
            IDEMPOTENCY.saved.pop(scope, None)
            _scopes.add(scope)
            _journal_changes(request.path)
        if request.transport is not None:
            request.transport.abort()  # aiohttp then writes the answer nowhere
    return response


_refused: list[_LostResponses] = []


def refuse_requests(method: str, path: str, times: int = 1) -> None:
    """Test-only: the next `times` requests matching `method` and the regex `path` are refused
    as Stripe refuses a request it will never accept (400 `invalid_request_error`), before they
    take effect: a permanent refusal, not a network fault."""
    with _lost_lock:
        _refused.append(_LostResponses(method, re.compile(path), times, False))


def _take_refused(request: web.Request) -> bool:
    with _lost_lock:
        for fault in _refused:
            if fault.method == request.method and fault.path.fullmatch(request.path):
                fault.left -= 1
                if fault.left <= 0:
                    _refused.remove(fault)
                return True
    return False


@web.middleware
async def refusal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _refused and _take_refused(request):
        error = {"type": "invalid_request_error", "message": "refused by the test"}
        return web.json_response({"error": error}, status=400)
    return await handler(request)


# ------------------------------------------------------------------------------- the store
# The store's objects by type ("charge", "refund", ...), in the store's own order. Listing a
# type scanned the whole store, and exporting a charge lists its refunds three times: a
# checkout cost grew with every object ever made (~200 ms after 500 checkouts).
_by_type: dict[str, dict[str, Any]] = {}


def _store_set(store: dict[str, Any], key: str, value: Any) -> None:
    dict.__setitem__(store, key, value)
    _by_type.setdefault(key.split(":", 1)[0], {})[key] = value
    if _journal is not None:
        _dirty[id(value)] = value
        _deleted.discard(key)


def _store_delete(store: dict[str, Any], key: str) -> None:
    value = dict.get(store, key)
    dict.__delitem__(store, key)
    _by_type.get(key.split(":", 1)[0], {}).pop(key, None)
    if _journal is not None:
        _dirty.pop(id(value), None)
        _deleted.add(key)


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


# ------------------------------------------------------------------------- durability
# Each write request's changes are journaled before its answer is sent (shop_local.persistence):
# the objects it changed (attribute writes are tracked), the keys it removed, the idempotency
# answers it saved. Objects refer to each other (an intent to its charge): in the journal a
# reference to a stored object is its store key, so a restart rebuilds one object per key.
_journal: Journal | None = None
_dirty: dict[int, Any] = {}  # id() -> object, changed since the last record
_deleted: set[str] = set()
_scopes: set[tuple[str, str]] = set()  # idempotency answers saved or dropped since


def _forget_changes() -> None:
    _dirty.clear()
    _deleted.clear()
    _scopes.clear()


def _tracked_setattr(self: Any, name: str, value: Any) -> None:
    object.__setattr__(self, name, value)
    if _journal is not None:
        _dirty[id(self)] = self


def _key_of(obj: Any) -> str | None:
    kind, ident = getattr(obj, "object", None), obj.__dict__.get("id")
    return f"{kind}:{ident}" if isinstance(kind, str) and isinstance(ident, str) else None


class _RecordPickler(pickle.Pickler):
    def __init__(self, file: Any, store: dict[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.store = store

    def persistent_id(self, obj: Any) -> str | None:
        if isinstance(obj, resources.StripeObject):
            key = _key_of(obj)
            if key is not None and dict.get(self.store, key) is obj:
                return key
        return None


class _RecordUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, store: dict[str, Any]) -> None:
        super().__init__(file)
        self.store = store

    def persistent_load(self, key: Any) -> Any:
        return self.store.get(key)


def _journal_changes(path: str) -> None:
    """Append what the request just made (called before its answer is sent)."""
    # The object a request addresses (`/v1/payment_intents/pi_.../capture`) may have changed
    # inside a container attribute, which no attribute write shows.
    parts = path.split("/")
    if len(parts) > 3:
        for kind in list(_by_type):
            if (addressed := dict.get(resources.store, f"{kind}:{parts[3]}")) is not None:
                _dirty[id(addressed)] = addressed
    changed = {}
    for obj in _dirty.values():
        key = _key_of(obj)
        if key is not None and dict.get(resources.store, key) is obj:
            changed[key] = obj
    deleted, scopes = sorted(_deleted), sorted(_scopes)
    _forget_changes()
    if _journal is None or not (changed or deleted or scopes):
        return
    states = io.BytesIO()
    _RecordPickler(states, resources.store).dump([o.__dict__ for o in changed.values()])
    answers = {scope: IDEMPOTENCY.saved.get(scope) for scope in scopes}
    kinds = [(key, type(obj)) for key, obj in changed.items()]
    _journal.append(pickle.dumps((kinds, states.getvalue(), deleted, answers)))


def apply_journal(
    store: dict[str, Any],
    saved: dict[tuple[str, str], Any],
    snapshot: bytes | None,
    records: list[bytes],
) -> None:
    """Rebuild `store` and the idempotency answers from a snapshot and the records after it."""
    if snapshot is not None:
        objects, answers = pickle.loads(snapshot)  # our own files, in the state folder
        for key, obj in objects.items():
            store[key] = obj
        saved.update(answers)
    for record in records:
        kinds, states, deleted, answers = pickle.loads(record)
        for key, cls in kinds:  # first every object, so that references find them
            if dict.get(store, key) is None:
                store[key] = cls.__new__(cls)
        for (key, _), state in zip(
            kinds, _RecordUnpickler(io.BytesIO(states), store).load(), strict=True
        ):
            target = store[key]
            target.__dict__.clear()
            target.__dict__.update(state)
        for key in deleted:
            store.pop(key, None)
        for scope, answer in answers.items():
            if answer is None:
                saved.pop(scope, None)
            else:
                saved[scope] = answer


def _snapshot() -> bytes:
    return pickle.dumps(
        (dict(resources.store), dict(IDEMPOTENCY.saved)), protocol=pickle.HIGHEST_PROTOCOL
    )


@web.middleware
async def journal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        if request.method in ("POST", "DELETE") or _dirty:
            _journal_changes(request.path)


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
    resources.StripeObject.__setattr__ = _tracked_setattr
    resources.StripeObject._api_list_all = classmethod(_list_all)


_patch()
from localstripe.server import app  # noqa: E402  (after the patches, see _patch)

# localstripe's middlewares: errors, auth, then one that pickles the store after every write.
# The lost-response fault is outermost (it drops whatever answer the rest made); idempotency
# sits after auth (keys are per account), and the per-write pickle goes.
app.middlewares[:] = [
    refusal_middleware,
    lost_response_middleware,
    journal_middleware,
    *(m for m in app.middlewares if m.__name__ != "save_store_middleware"),
    idempotency_middleware,
]


class StripeEmulator:
    def __init__(self, port: int, state_dir: Path | None = None) -> None:
        """`state_dir`: keep the store there across restarts (None: start empty)."""
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # Compacted on the emulator's loop, between requests: consistent.
        self.journal = Journal(state_dir, "stripe", _snapshot) if state_dir is not None else None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localstripe", daemon=True)

    def start(self) -> StripeEmulator:
        global _journal
        resources.store.clear()  # whatever a previous run left in this process
        IDEMPOTENCY.clear()
        _forget_changes()
        if self.journal is not None:
            apply_journal(resources.store, IDEMPOTENCY.saved, *self.journal.recover())
            self.journal.compact(_snapshot())
            _forget_changes()
            _journal = self.journal
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("localstripe did not start")
        return self

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
            global _journal
            await self._runner.cleanup()
            if self.journal is not None and _journal is self.journal:
                _journal = None
                self.journal.compact(_snapshot())  # the next start replays nothing
                self.journal.close()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
