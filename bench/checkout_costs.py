"""Checkout: latency on the local platform, and what one successful checkout costs on AWS.

Starts the local platform in this process (moto, localstripe, the template's functions and the
local gateway) and drives checkouts over real HTTP, as `tests/integration/test_checkout.py`
does: an admin creates products and stocks them, each buyer fills a cart (2 lines), POSTs
/checkout with an Idempotency-Key and polls GET /checkout/{id} every 50 ms until SUCCEEDED.

Latency: `--sequential` checkouts one after the other, and `--concurrent` checkouts shared by
`--buyers` threads (every checkout has its own buyer and cart; carts are filled before the
clock starts). Time from sending POST /checkout to the poll that sees SUCCEEDED; p50/p95 per
run, then the median of `--runs` runs (the two modes interleaved). The defaults keep the whole
benchmark near 4 minutes on 2 cores.

Counts of one checkout (one per run, alone on the platform; the wrappers below are installed
only around it, not during the timed checkouts), from sending POST
/checkout until it is SUCCEEDED, the streams are drained (`wait_until_idle`) and nothing has
happened for 1.5 s (localstripe sends its webhooks 1 s after each event):
- every request moto's server answers (`BaseResponse.call_action` wrapped), by service and
  action, and for DynamoDB (`DynamoHandler.call_action` wrapped, under moto_fidelity's lock)
  the request units it would consume on AWS, computed from the items before and after (item
  sizes by DynamoDB's documented rules, GSI writes included);
- which function caused each request: every boto3 request sent while a function runs in that
  thread carries a header naming it (botocore's `URLLib3Session.send` wrapped), so background
  work (stream polling, schedules) is told apart from the checkout;
- Lambda invocations (`LocalFunctions.invoke` wrapped) with their local duration, Stripe API
  requests (stripe's HTTP client wrapped), webhooks by Stripe event type, EventBridge entries,
  bytes the handlers log to stdout (counted, not shown), and the execution's state transitions
  (`StateEntered` events of `get_execution_history`).
From those counts, the AWS list-price cost of 1,000 orders (us-east-1).

    .venv/bin/python bench/checkout_costs.py [--sequential 20] [--concurrent 16] [--buyers 8]
                                             [--runs 3] [--markdown OUT.md]
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import stripe._http_client as stripe_http
from botocore.httpsession import URLLib3Session
from moto.core.responses import BaseResponse
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler

from shop import aws
from shop_local import moto_fidelity
from shop_local.functions import current_function
from shop_local.platform import LocalPlatform

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

POLL_SECONDS = 0.05
QUIET_SECONDS = 1.5  # localstripe posts each webhook 1 s after its event
LINES = 2  # lines per cart: SKU i x1 and SKU i+1 x2
SKUS = 8
STOCK = 100_000  # units per SKU: the benchmark takes a few hundred
ORIGIN_HEADER = "x-shop-bench-origin"
PLATFORM_ORIGIN = "(platform)"  # requests no function sent: stream polling, Step Functions
ADDRESS = {
    "name": "Bench Buyer",
    "line1": "1 High Street",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}

# AWS list prices, us-east-1, 2025 (USD). Free tiers are not applied.
PRICES = {
    "sfn_transition": 0.025 / 1_000,  # AWS Step Functions Pricing: Standard workflows
    "lambda_request": 0.20 / 1_000_000,  # AWS Lambda Pricing: requests
    "lambda_gb_second": 0.0000133334,  # AWS Lambda Pricing: duration, Arm, first 7.5B GB-s
    # Amazon DynamoDB Pricing for On-Demand Capacity: since 1 Nov 2024 (a 50% cut)
    "dynamodb_wru": 0.625 / 1_000_000,
    "dynamodb_rru": 0.125 / 1_000_000,
    "eventbridge_event": 1.00 / 1_000_000,  # Amazon EventBridge Pricing: custom events
    "apigw_request": 3.50 / 1_000_000,  # Amazon API Gateway Pricing: REST, first 333M
    "logs_gb": 0.50,  # Amazon CloudWatch Pricing: Logs, Standard ingestion (first tier)
}
OLD_DYNAMODB = {"wru": 1.25 / 1_000_000, "rru": 0.25 / 1_000_000}  # before 1 Nov 2024
ASSUMED_LAMBDA_SECONDS = 0.100  # per invocation, for the cost (an assumption, see the text)
ASSUMED_PLATFORM_LOG_BYTES = 600  # Lambda's own JSON records per invocation (start, report)


# ---------------------------------------------------------------------- DynamoDB sizes and units
def _number_size(text: str) -> int:
    mantissa = text.lower().lstrip("+-").split("e", 1)[0].replace(".", "")
    digits = mantissa.strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one typed attribute value, by DynamoDB's documented rules."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


@dataclass
class TableUnits:
    rru: float = 0.0
    wru: float = 0.0  # the table's own writes (transactional ones doubled)
    gsi_wru: float = 0.0  # index writes caused by the table's writes


@dataclass
class DynamoCall:
    origin: str
    action: str
    status: int
    error: str
    items: int  # items read or written (a transaction's actions, a batch's keys)
    units: dict[str, TableUnits]  # physical table name -> units


class DynamoMeter:
    """Before and after one request, under moto_fidelity's lock: what the request unit
    consumption on AWS would be. Reads: 4 KB units (eventually consistent: half), writes: 1 KB
    units of the larger of the old and new item, transactions twice, GSI writes once per index
    entry written (twice when an index key changes)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def _table(self, name: str) -> Any:
        return self.backend.get_table(name)

    def _item(self, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        try:
            found = self.backend.get_item(table_name, key)
        except Exception:
            return None
        if found is None:
            return None
        return {k: v.to_regular_json() for k, v in found.attrs.items()}

    def _key(self, table: Any, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in table.table_key_attrs if k in item}

    def targets(self, action: str, body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, table, key) of every item a write touches, before it runs."""
        if action == "TransactWriteItems":
            found = []
            for entry in body.get("TransactItems", []):
                ((kind, op),) = entry.items()
                table = self._table(op["TableName"])
                key = self._key(table, op["Item"]) if kind == "Put" else op["Key"]
                found.append((kind, op["TableName"], key))
            return found
        if action in ("PutItem", "UpdateItem", "DeleteItem"):
            table = self._table(body["TableName"])
            key = self._key(table, body["Item"]) if action == "PutItem" else body["Key"]
            return [(action, body["TableName"], key)]
        if action == "BatchWriteItem":
            found = []
            for name, requests_ in body.get("RequestItems", {}).items():
                table = self._table(name)
                for request in requests_:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        found.append(("PutItem", name, self._key(table, item)))
                    else:
                        found.append(("DeleteItem", name, request["DeleteRequest"]["Key"]))
            return found
        return []

    def snapshot(self, targets: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
        return [self._item(name, key) for _kind, name, key in targets]

    def _projected(
        self, index: Any, table: Any, item: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        if item is None:
            return None
        keys = [k["AttributeName"] for k in index.schema]
        if any(k not in item for k in keys):
            return None  # sparse: not in the index
        projection = index.projection or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return item
        allowed = set(keys) | set(table.table_key_attrs)
        if kind == "INCLUDE":
            allowed |= set(projection.get("NonKeyAttributes", []))
        return {k: v for k, v in item.items() if k in allowed}

    def _gsi_units(self, table: Any, before: Any, after: Any) -> int:
        total = 0
        for index in table.global_indexes:
            old = self._projected(index, table, before)
            new = self._projected(index, table, after)
            if old is None and new is None:
                continue
            if old is None or new is None:
                total += write_units(item_size(old or new))
                continue
            index_keys = [k["AttributeName"] for k in index.schema]
            if any(old[k] != new[k] for k in index_keys):
                total += write_units(item_size(old)) + write_units(item_size(new))
            elif old != new:
                total += write_units(max(item_size(old), item_size(new)))
        return total

    def measure(
        self,
        action: str,
        body: dict[str, Any],
        targets: list[tuple[str, str, dict[str, Any]]],
        before: list[Any],
        status: int,
        response: dict[str, Any],
    ) -> tuple[int, dict[str, TableUnits]]:
        units: dict[str, TableUnits] = {}

        def of(name: str) -> TableUnits:
            return units.setdefault(name, TableUnits())

        if targets:  # writes
            factor = 2 if action == "TransactWriteItems" else 1
            after = self.snapshot(targets)
            for (kind, name, _key), old, new in zip(targets, before, after, strict=True):
                if status != 200:  # a refused condition still costs the write of the item
                    if action != "TransactWriteItems":
                        of(name).wru += write_units(item_size(old))
                    continue
                of(name).wru += factor * write_units(max(item_size(old), item_size(new)))
                if kind != "ConditionCheck":
                    of(name).gsi_wru += self._gsi_units(self._table(name), old, new)
            return len(targets), units
        if status != 200:
            return 0, units
        if action == "GetItem":
            item = self._item(body["TableName"], body["Key"])
            share = 1.0 if body.get("ConsistentRead") else 0.5
            of(body["TableName"]).rru += share * read_units(item_size(item))
            return 1, units
        if action in ("Query", "Scan"):
            name = body["TableName"]
            table = self._table(name)
            index = next((i for i in table.global_indexes if i.name == body.get("IndexName")), None)
            total = 0
            returned = response.get("Items", [])
            for shown in returned:
                key = self._key(table, shown)
                full = self._item(name, key) if len(key) == len(table.table_key_attrs) else None
                full = full or shown
                total += item_size(self._projected(index, table, full) if index else full)
            scanned = int(response.get("ScannedCount", len(returned)))
            if returned and scanned > len(returned):  # filtered out: read, then dropped
                total = total * scanned // len(returned)
            share = 1.0 if body.get("ConsistentRead") and index is None else 0.5
            of(name).rru += share * read_units(total)
            return len(returned), units
        if action in ("BatchGetItem", "TransactGetItems"):
            count = 0
            if action == "BatchGetItem":
                reads = [
                    (name, key, bool(spec.get("ConsistentRead")), 1)
                    for name, spec in body.get("RequestItems", {}).items()
                    for key in spec.get("Keys", [])
                ]
            else:
                reads = [
                    (entry["Get"]["TableName"], entry["Get"]["Key"], True, 2)
                    for entry in body.get("TransactItems", [])
                ]
            for name, key, consistent, factor in reads:
                share = 1.0 if consistent else 0.5
                of(name).rru += factor * share * read_units(item_size(self._item(name, key)))
                count += 1
            return count, units
        return 0, units


# ---------------------------------------------------------------------- what is recorded
@dataclass
class Invocation:
    function: str
    seconds: float
    memory_mb: int
    detail: str  # the Stripe event type, for webhooks


@dataclass
class AwsCall:
    origin: str
    service: str
    action: str
    entries: list[str]  # PutEvents: the entries' DetailType


@dataclass
class Window:
    """Everything one checkout caused, as recorded."""

    invocations: list[Invocation] = field(default_factory=list)
    aws: list[AwsCall] = field(default_factory=list)
    dynamo: list[DynamoCall] = field(default_factory=list)
    stripe: list[tuple[str, str]] = field(default_factory=list)  # (origin, "METHOD /path")
    log_bytes: Counter[str] = field(default_factory=Counter)  # origin -> bytes on stdout
    transitions: list[str] = field(default_factory=list)  # "Kind:Name" entered, in order
    polls: int = 0
    seconds: float = 0.0


def current_origin() -> str:
    """The function whose invocation is running here (it runs on a thread of its own, and
    its context follows it into the pools it hands work to), "" outside any."""
    return current_function() or ""


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window: Window | None = None
        self.last_event = time.monotonic()

    def add(self, put: Callable[[Window], None], *, activity: bool = True) -> None:
        with self.lock:
            if self.window is not None:
                put(self.window)
                if activity:
                    self.last_event = time.monotonic()

    @property
    def recording(self) -> bool:
        return self.window is not None


class CountingStdout(io.TextIOBase):
    """Stands in for stdout while the benchmark runs: the handlers' log lines are counted per
    function (what CloudWatch Logs would ingest) and dropped."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        origin = current_origin()
        if origin:
            size = len(text.encode())

            def put(window: Window) -> None:
                window.log_bytes[origin] += size

            self.recorder.add(put, activity=False)
        return len(text)


_ID = re.compile(r"/(pi|ch|pm|re|cus|evt)_[A-Za-z0-9]+")


@contextmanager
def probes(local: LocalPlatform, recorder: Recorder) -> Iterator[None]:
    """Install the wrappers that count; put everything back on exit."""
    functions = local.functions
    original_invoke = functions.invoke
    original_send = URLLib3Session.send
    original_base = BaseResponse.call_action
    original_dynamo = DynamoHandler.call_action
    stripe_class: Any = stripe_http._default_sync_client
    original_stripe = stripe_class.request

    def invoke(name_or_arn: str, event: Any) -> Any:
        logical_id = functions.logical_id(name_or_arn)
        started = time.perf_counter()
        try:
            return original_invoke(name_or_arn, event)
        finally:
            seconds = time.perf_counter() - started
            detail = ""
            if logical_id == "PaymentWebhookFunction" and isinstance(event, dict):
                try:
                    detail = str(json.loads(event.get("body") or "{}").get("type", ""))
                except ValueError:
                    detail = "?"
            memory = int(functions.specs[logical_id].memory)
            recorder.add(
                lambda w: w.invocations.append(Invocation(logical_id, seconds, memory, detail))
            )

    def send(self: Any, request: Any) -> Any:
        origin = current_origin()
        if origin:
            request.headers[ORIGIN_HEADER] = origin
        return original_send(self, request)

    def base_call_action(self: Any) -> Any:
        if recorder.recording:
            origin = self.headers.get(ORIGIN_HEADER) or PLATFORM_ORIGIN
            service = str(getattr(self, "service_name", "") or "?")
            try:
                action = str(self._get_action())
            except Exception:
                action = "?"
            entries: list[str] = []
            if action == "PutEvents":
                try:
                    raw = json.loads(self.raw_body or b"{}")
                    entries = [str(e.get("DetailType", "")) for e in raw.get("Entries", [])]
                except ValueError:
                    pass
            recorder.add(
                lambda w: w.aws.append(AwsCall(origin, service, action, entries)),
                activity=origin != PLATFORM_ORIGIN,
            )
        return original_base(self)

    def dynamo_call_action(self: Any) -> Any:
        if not recorder.recording:
            return original_dynamo(self)
        origin = self.headers.get(ORIGIN_HEADER) or PLATFORM_ORIGIN
        target = self.headers.get("X-Amz-Target") or ""
        action = target.split(".")[-1]
        try:
            body = json.loads(self.raw_body or b"{}")
        except ValueError:
            body = {}
        meter = DynamoMeter(dynamodb_backends[self.current_account][self.region])
        with moto_fidelity._LOCK:  # reentrant: the serialized call below takes it again
            try:
                targets = meter.targets(action, body)
                before = meter.snapshot(targets)
            except Exception:
                targets, before = [], []
            result = original_dynamo(self)
            status = int(result[0])
            try:
                response = json.loads(result[2]) if result[2] else {}
            except (ValueError, TypeError):
                response = {}
            error = str(response.get("__type", "")).split("#")[-1] if status != 200 else ""
            items, units = meter.measure(action, body, targets, before, status, response)
        call = DynamoCall(origin, action, status, error, items, units)
        recorder.add(lambda w: w.dynamo.append(call), activity=origin != PLATFORM_ORIGIN)
        return result

    def stripe_request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        origin = current_origin() or PLATFORM_ORIGIN
        path = _ID.sub(lambda m: f"/{m.group(1)}_*", url.split("://", 1)[-1].split("/", 1)[-1])
        recorder.add(lambda w: w.stripe.append((origin, f"{method.upper()} /{path}")))
        return original_stripe(self, method, url, *args, **kwargs)

    functions.invoke = invoke  # type: ignore[method-assign]
    setattr(URLLib3Session, "send", send)  # noqa: B010
    setattr(BaseResponse, "call_action", base_call_action)  # noqa: B010
    setattr(DynamoHandler, "call_action", dynamo_call_action)  # noqa: B010
    setattr(stripe_class, "request", stripe_request)  # noqa: B010
    try:
        yield
    finally:
        functions.invoke = original_invoke  # type: ignore[method-assign]
        setattr(URLLib3Session, "send", original_send)  # noqa: B010
        setattr(BaseResponse, "call_action", original_base)  # noqa: B010
        setattr(DynamoHandler, "call_action", original_dynamo)  # noqa: B010
        setattr(stripe_class, "request", original_stripe)  # noqa: B010


# ---------------------------------------------------------------------- the HTTP client
class Client:
    """Calls the platform over real HTTP; one session per thread."""

    def __init__(self, local: LocalPlatform) -> None:
        self.local = local
        self.tokens: dict[tuple[str, bool], str] = {}
        self.lock = threading.Lock()
        self.per_thread = threading.local()
        self.sessions: list[requests.Session] = []
        self.timeout = 30.0  # seconds for each answer

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.per_thread, "session", None)
        if session is None:
            session = self.per_thread.session = requests.Session()
            with self.lock:
                self.sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's connections (a pool's threads are gone by now): the gateway
        then reads a clean end of stream, not a reset."""
        with self.lock:
            for session in self.sessions:
                session.close()
            self.sessions.clear()
        self.per_thread = threading.local()

    def token(self, user: str, admin: bool = False) -> str:
        with self.lock:
            if (user, admin) not in self.tokens:
                self.tokens[(user, admin)] = self.local.identity.issue(
                    user, admin=admin, ttl_seconds=3600
                )
            return self.tokens[(user, admin)]

    def send(
        self,
        method: str,
        path: str,
        user: str,
        *,
        admin: bool = False,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One request, its response whatever the status."""
        sent = {"Authorization": f"Bearer {self.token(user, admin)}", **(headers or {})}
        return self._session().request(
            method, self.local.url + path, json=body, headers=sent, timeout=self.timeout
        )

    def call(
        self,
        method: str,
        path: str,
        user: str,
        *,
        admin: bool = False,
        body: Any = None,
        headers: dict[str, str] | None = None,
        expect: int = 200,
    ) -> dict[str, Any]:
        response = self.send(method, path, user, admin=admin, body=body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result


def stock_skus(client: Client, prefix: str) -> list[str]:
    skus = [f"{prefix}-{i}".upper() for i in range(SKUS)]
    for i, sku in enumerate(skus):
        product = {
            "name": f"Bench mug {i}",
            "description": "A mug for tea.",
            "category": "kitchen-and-dining",
            "images": ["https://images.example.com/mug.jpg"],
            "variants": [
                {
                    "sku": sku,
                    "attributes": {"colour": "red"},
                    "price": {"amount": 450 + 50 * i, "currency": "GBP"},
                }
            ],
        }
        client.call("POST", "/admin/products", "bench-admin", admin=True, body=product, expect=201)
        client.call(
            "PUT",
            f"/admin/inventory/{sku}",
            "bench-admin",
            admin=True,
            body={"warehouse_id": "wh-bench", "quantity": STOCK},
        )
    return skus


def fill_cart(client: Client, user: str, skus: list[str], number: int) -> None:
    for line in range(LINES):
        sku = skus[(number + line) % len(skus)]
        client.call("POST", "/cart/items", user, body={"sku": sku, "quantity": line + 1})


@dataclass
class Timing:
    post: float  # seconds, POST /checkout alone
    total: float  # seconds, POST sent -> the poll that saw SUCCEEDED
    polls: int


def checkout(client: Client, user: str) -> tuple[str, Timing]:
    started = time.perf_counter()
    accepted = client.call(
        "POST",
        "/checkout",
        user,
        body={"payment_method": "pm_card_visa", "shipping_address": ADDRESS},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        expect=202,
    )
    post = time.perf_counter() - started
    checkout_id = str(accepted["checkout_id"])
    polls = 0
    deadline = started + 60
    while True:
        time.sleep(POLL_SECONDS)
        view = client.call("GET", f"/checkout/{checkout_id}", user)
        polls += 1
        if view["status"] != "PENDING":
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"checkout {checkout_id} still PENDING after 60 s")
    total = time.perf_counter() - started
    if view["status"] != "SUCCEEDED":
        raise RuntimeError(f"checkout {checkout_id} ended {view['status']}: {view}")
    return checkout_id, Timing(post, total, polls)


# ---------------------------------------------------------------------- the measurements
@dataclass
class LatencyRun:
    timings: list[Timing]
    seconds: float  # wall time of the whole batch

    def p(self, q: float) -> float:
        return common.percentile([t.total for t in self.timings], q) * 1000

    @property
    def post_p50(self) -> float:
        return common.percentile([t.post for t in self.timings], 50) * 1000

    @property
    def polls(self) -> float:
        return statistics.median(t.polls for t in self.timings)

    @property
    def rate(self) -> float:
        return len(self.timings) / self.seconds


def latency_run(client: Client, skus: list[str], count: int, buyers: int, tag: str) -> LatencyRun:
    users = [f"bench-{tag}-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    for i, user in enumerate(users):  # carts first, outside the clock
        fill_cart(client, user, skus, i)
    started = time.perf_counter()
    if buyers == 1:
        timings = [checkout(client, user)[1] for user in users]
    else:
        with ThreadPoolExecutor(max_workers=buyers) as pool:
            timings = [t for _id, t in pool.map(lambda u: checkout(client, u), users)]
        client.close()
    return LatencyRun(timings, time.perf_counter() - started)


def counted_checkout(
    local: LocalPlatform, client: Client, recorder: Recorder, skus: list[str], number: int
) -> Window:
    user = f"bench-counted-{number}-{uuid.uuid4().hex[:6]}"
    fill_cart(client, user, skus, number)
    local.wait_until_idle()
    time.sleep(QUIET_SECONDS)  # the cart's and earlier runs' webhooks and stream records
    window = Window()
    with recorder.lock:
        recorder.window = window
        recorder.last_event = time.monotonic()
    started = time.perf_counter()
    checkout_id, timing = checkout(client, user)
    local.wait_until_idle()
    deadline = time.monotonic() + 15
    while time.monotonic() - recorder.last_event < QUIET_SECONDS:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    with recorder.lock:
        recorder.window = None
    window.polls = timing.polls
    window.seconds = time.perf_counter() - started
    machine = local.provisioner.refs["CheckoutStateMachine"]
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:{checkout_id}"
    sfn = aws.client("stepfunctions")
    request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        for event in page["events"]:
            if event["type"].endswith("StateEntered"):
                kind = event["type"].removesuffix("StateEntered")
                window.transitions.append(f"{kind}:{event['stateEnteredEventDetails']['name']}")
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return window


@dataclass
class Report:
    sequential: list[LatencyRun]
    concurrent: list[LatencyRun]
    windows: list[Window]
    cold: Timing
    runs: int
    buyers: int
    triggers: dict[str, str]  # function -> how it is invoked
    tables: dict[str, str]  # physical table name -> logical id
    started: datetime
    seconds: float
    command: str
    commit: str
    loads: tuple[str, str]


def triggers_of(local: LocalPlatform) -> dict[str, str]:
    found = {}
    for logical_id, spec in local.functions.specs.items():
        kinds = {str(event.get("Type")) for event in spec.events.values()}
        if "Api" in kinds:
            found[logical_id] = "API"
        elif "DynamoDB" in kinds:
            found[logical_id] = "stream"
        elif "Schedule" in kinds:
            found[logical_id] = "schedule"
        elif kinds & {"SQS", "EventBridgeRule"}:
            found[logical_id] = "events"
        else:
            found[logical_id] = "state machine"
    return found


def measure(sequential: int, concurrent: int, buyers: int, runs: int, command: str) -> Report:
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # moto's Choice state logs NoSuchJsonPathError for `IsPresent` on a missing path (the
    # saga's `Mode` state, every run), then evaluates it correctly.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    started, clock, load_at_start = datetime.now(UTC), time.perf_counter(), common.load_average()
    commit = common.git_revision()
    recorder = Recorder()
    seq_runs: list[LatencyRun] = []
    conc_runs: list[LatencyRun] = []
    windows: list[Window] = []
    real_stdout = sys.stdout
    sys.stdout = CountingStdout(recorder)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-platform-") as state:
            local = LocalPlatform(
                port=0,
                state_dir=Path(state),
                parameter_overrides={"PaymentActionTimeoutSeconds": "6"},
            ).start()
            try:
                client = Client(local)
                skus = stock_skus(client, f"bench-{uuid.uuid4().hex[:6]}")
                triggers = triggers_of(local)
                tables = {v: k for k, v in local.provisioner.refs.items() if k.endswith("Table")}
                # The first checkout loads every handler involved (a cold start each): timed
                # apart, not counted. Then a warm-up of each mode.
                user = f"bench-cold-{uuid.uuid4().hex[:6]}"
                fill_cart(client, user, skus, 0)
                cold = checkout(client, user)[1]
                latency_run(client, skus, 2, 1, "warmup")
                local.wait_until_idle()
                for run in range(runs):
                    with probes(local, recorder):  # not during the timed runs
                        windows.append(counted_checkout(local, client, recorder, skus, run))
                    seq_runs.append(latency_run(client, skus, sequential, 1, f"s{run}"))
                    local.wait_until_idle()
                    conc_runs.append(latency_run(client, skus, concurrent, buyers, f"c{run}"))
                    local.wait_until_idle()
                    print(
                        f"  run {run + 1}: sequential p50 {seq_runs[-1].p(50):.0f} ms, "
                        f"{buyers} buyers p50 {conc_runs[-1].p(50):.0f} ms, counted "
                        f"checkout {len(windows[-1].dynamo)} DynamoDB requests seen",
                        file=sys.stderr,
                    )
            finally:
                local.stop()
    finally:
        sys.stdout = real_stdout
    return Report(
        sequential=seq_runs,
        concurrent=conc_runs,
        windows=windows,
        cold=cold,
        runs=runs,
        buyers=buyers,
        triggers=triggers,
        tables=tables,
        started=started,
        seconds=time.perf_counter() - clock,
        command=command,
        commit=commit,
        loads=(load_at_start, common.load_average()),
    )


# ---------------------------------------------------------------------- counting a window
PARTS = ("API", "state machine", "stream", "events", "webhook", "poll")
ORDER_PARTS = PARTS[:-1]  # what the order itself costs: every part but the polls


def part_of(origin: str, triggers: dict[str, str]) -> str:
    if origin == "GetCheckoutFunction":
        return "poll"
    if origin == "PaymentWebhookFunction":
        return "webhook"
    return triggers.get(origin, "platform")


@dataclass(frozen=True)
class Counts:
    """One window reduced to the numbers the report shows (hashable, to compare runs)."""

    invocations: tuple[tuple[str, int], ...]  # function -> invocations
    dynamo_ops: tuple[tuple[str, str, str, int, int, float, float, float], ...]
    # (part, function, operation, requests, items, rru, wru, gsi_wru)
    dynamo_tables: tuple[tuple[str, int, float, float, float], ...]  # table, requests, units
    dynamo_errors: tuple[tuple[str, str, int], ...]  # function, error, requests
    transitions: tuple[str, ...]  # "Kind:Name" of every state entered
    events: tuple[tuple[str, int], ...]  # detail-type -> entries
    put_events_calls: int
    stripe: tuple[tuple[str, str, int], ...]  # function, request, count
    webhooks: tuple[tuple[str, int], ...]  # Stripe event type -> deliveries
    other_aws: tuple[tuple[str, str, str, int], ...]  # part, service, action, requests
    api_requests: int  # excluding polls
    polls: int
    scheduled: tuple[str, ...]  # scheduled functions that ran in the window (left out)


def reduce_window(window: Window, triggers: dict[str, str], tables: dict[str, str]) -> Counts:
    invocations = Counter(
        i.function for i in window.invocations if triggers.get(i.function) != "schedule"
    )
    scheduled = sorted(
        {i.function for i in window.invocations if triggers.get(i.function) == "schedule"}
    )
    ops: dict[tuple[str, str, str], list[float]] = {}
    per_table: dict[str, list[float]] = {}
    errors: Counter[tuple[str, str]] = Counter()
    for call in window.dynamo:
        if call.origin == PLATFORM_ORIGIN:
            continue
        part = part_of(call.origin, triggers)
        if part == "schedule":  # not the order's: a schedule that happened to run
            continue
        row = ops.setdefault((part, call.origin, call.action), [0, 0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += call.items
        for units in call.units.values():
            row[2] += units.rru
            row[3] += units.wru
            row[4] += units.gsi_wru
        if part == "poll":  # the order's own tables view leaves the client's polls out
            continue
        for name, units in call.units.items():
            table_row = per_table.setdefault(tables.get(name, name), [0, 0.0, 0.0, 0.0])
            table_row[0] += 1
            table_row[1] += units.rru
            table_row[2] += units.wru
            table_row[3] += units.gsi_wru
        if call.error:
            errors[(call.origin, call.error)] += 1
    events: Counter[str] = Counter()
    put_events = 0
    other: Counter[tuple[str, str, str]] = Counter()
    for aws_call in window.aws:
        if aws_call.service == "dynamodb":
            continue
        if aws_call.action == "PutEvents" and aws_call.origin != PLATFORM_ORIGIN:
            put_events += 1
            events.update(aws_call.entries)
        part = (
            "platform" if aws_call.origin == PLATFORM_ORIGIN else part_of(aws_call.origin, triggers)
        )
        if part != "schedule":
            other[(part, aws_call.service, aws_call.action)] += 1
    stripe_calls = Counter(window.stripe)
    webhooks = Counter(
        i.detail for i in window.invocations if i.function == "PaymentWebhookFunction"
    )
    api = sum(
        n for f, n in invocations.items() if triggers.get(f) == "API" and f != "GetCheckoutFunction"
    )
    part_order = {p: i for i, p in enumerate(PARTS)}
    return Counts(
        invocations=tuple(sorted(invocations.items())),
        dynamo_ops=tuple(
            (part, fn, op, int(r[0]), int(r[1]), r[2], r[3], r[4])
            for (part, fn, op), r in sorted(
                ops.items(), key=lambda kv: (part_order.get(kv[0][0], 9), kv[0][1], kv[0][2])
            )
        ),
        dynamo_tables=tuple(
            (name, int(r[0]), r[1], r[2], r[3]) for name, r in sorted(per_table.items())
        ),
        dynamo_errors=tuple((f, e, n) for (f, e), n in sorted(errors.items())),
        transitions=tuple(window.transitions),
        events=tuple(sorted(events.items())),
        put_events_calls=put_events,
        stripe=tuple((o, r, n) for (o, r), n in sorted(stripe_calls.items())),
        webhooks=tuple(sorted(webhooks.items())),
        other_aws=tuple((p, s, a, n) for (p, s, a), n in sorted(other.items())),
        api_requests=api,
        polls=window.polls,
        scheduled=tuple(scheduled),
    )


# ---------------------------------------------------------------------- cost
@dataclass
class CostLine:
    service: str
    counted: str
    per_order: float
    price: str
    per_thousand: float  # USD per 1,000 orders


def dynamo_units(counts: Counts, parts: set[str]) -> tuple[float, float]:
    rru = sum(r[5] for r in counts.dynamo_ops if r[0] in parts)
    wru = sum(r[6] + r[7] for r in counts.dynamo_ops if r[0] in parts)
    return rru, wru


def of_order(function: str, triggers: dict[str, str]) -> bool:
    """Whether a function's work is the order's own: not the client's polls, not a schedule."""
    return function != "GetCheckoutFunction" and triggers.get(function) != "schedule"


def cost_lines(counts: Counts, window: Window, triggers: dict[str, str]) -> list[CostLine]:
    order_parts = set(ORDER_PARTS)
    invocations = [i for i in window.invocations if of_order(i.function, triggers)]
    requests_ = len(invocations)
    gb_seconds = sum(i.memory_mb / 1024 * ASSUMED_LAMBDA_SECONDS for i in invocations)
    rru, wru = dynamo_units(counts, order_parts)
    transitions = len(counts.transitions)
    events = sum(n for _t, n in counts.events)
    log_bytes = (
        sum(n for origin, n in window.log_bytes.items() if of_order(origin, triggers))
        + ASSUMED_PLATFORM_LOG_BYTES * requests_
    )
    memory = sorted({i.memory_mb for i in invocations})
    return [
        CostLine(
            "Step Functions (Standard)",
            "state transitions",
            transitions,
            "$0.025 per 1,000 transitions",
            transitions * 1000 * PRICES["sfn_transition"],
        ),
        CostLine(
            "Lambda requests",
            "invocations (API, tasks, stream, webhooks)",
            requests_,
            "$0.20 per 1M requests",
            requests_ * 1000 * PRICES["lambda_request"],
        ),
        CostLine(
            "Lambda duration (assumed)",
            f"GB-s: {'/'.join(str(m) for m in memory)} MB x "
            f"{ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms per invocation",
            gb_seconds,
            "$0.0000133334 per GB-s (arm64)",
            gb_seconds * 1000 * PRICES["lambda_gb_second"],
        ),
        CostLine(
            "DynamoDB writes",
            "write request units (tables + GSIs)",
            wru,
            "$0.625 per 1M WRU",
            wru * 1000 * PRICES["dynamodb_wru"],
        ),
        CostLine(
            "DynamoDB reads",
            "read request units",
            rru,
            "$0.125 per 1M RRU",
            rru * 1000 * PRICES["dynamodb_rru"],
        ),
        CostLine(
            "EventBridge",
            "custom events put",
            events,
            "$1.00 per 1M events",
            events * 1000 * PRICES["eventbridge_event"],
        ),
        CostLine(
            "API Gateway (REST)",
            "requests (POST /checkout, Stripe webhooks)",
            counts.api_requests,
            "$3.50 per 1M requests",
            counts.api_requests * 1000 * PRICES["apigw_request"],
        ),
        CostLine(
            "CloudWatch Logs (estimated)",
            f"KB ingested: handlers' logs as counted + {ASSUMED_PLATFORM_LOG_BYTES} B "
            "of Lambda's own records per invocation",
            log_bytes / 1024,
            "$0.50 per GB ingested",
            log_bytes * 1000 / 1024**3 * PRICES["logs_gb"],
        ),
    ]


def poll_cost(counts: Counts, window: Window) -> tuple[float, float]:
    """(USD, RRU) of one GET /checkout/{id}."""
    polls = max(1, counts.polls)
    rru, wru = dynamo_units(counts, {"poll"})
    memory = next(
        (i.memory_mb for i in window.invocations if i.function == "GetCheckoutFunction"), 512
    )
    log_bytes = window.log_bytes.get("GetCheckoutFunction", 0) / polls
    usd = (
        PRICES["apigw_request"]
        + PRICES["lambda_request"]
        + memory / 1024 * ASSUMED_LAMBDA_SECONDS * PRICES["lambda_gb_second"]
        + rru / polls * PRICES["dynamodb_rru"]
        + wru / polls * PRICES["dynamodb_wru"]
        + (log_bytes + ASSUMED_PLATFORM_LOG_BYTES) / 1024**3 * PRICES["logs_gb"]
    )
    return usd, rru / polls


# ---------------------------------------------------------------------- the report
def stable_key(counts: Counts) -> tuple[Any, ...]:
    """What must not change from run to run: everything but the client's polls and the
    platform's own background polling."""
    return (
        tuple(i for i in counts.invocations if i[0] != "GetCheckoutFunction"),
        tuple(r for r in counts.dynamo_ops if r[0] != "poll"),
        counts.dynamo_tables,
        tuple(e for e in counts.dynamo_errors if e[0] != "GetCheckoutFunction"),
        counts.transitions,
        counts.events,
        counts.put_events_calls,
        counts.stripe,
        counts.webhooks,
        tuple(o for o in counts.other_aws if o[0] not in ("platform", "poll")),
        counts.api_requests,
    )


def money(usd: float) -> str:
    return f"${usd:.4f}" if usd < 0.01 else f"${usd:.3f}"


def number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def to_markdown(report: Report) -> str:
    all_counts = [reduce_window(w, report.triggers, report.tables) for w in report.windows]
    keys = Counter(stable_key(c) for c in all_counts)
    usual, seen = keys.most_common(1)[0]
    shown = next(i for i, c in enumerate(all_counts) if stable_key(c) == usual)
    counts, window = all_counts[shown], report.windows[shown]
    same = (
        f"identical in all {len(all_counts)} runs"
        if seen == len(all_counts)
        else f"identical in {seen} of {len(all_counts)} runs (the table shows those; the "
        "others differ, see below)"
    )
    polls = [c.polls for c in all_counts]
    seq, conc = report.sequential, report.concurrent

    def med(values: list[float]) -> float:
        return statistics.median(values)

    durations: dict[str, list[float]] = {}
    for w in report.windows:
        for inv in w.invocations:
            durations.setdefault(inv.function, []).append(inv.seconds * 1000)
    calls = dict(counts.invocations)
    rows = [
        *common.header(
            started=report.started,
            seconds=report.seconds,
            command=report.command,
            loads=report.loads,
            packages=("moto", "boto3", "localstripe", "stripe"),
            commit=report.commit,
        ),
        f"- **Statistic**: **median of {report.runs} runs**. Each run: one counted checkout "
        f"(alone, recording on), {len(seq[0].timings)} sequential checkouts, "
        f"{len(conc[0].timings)} concurrent ones; runs follow one another in one platform "
        "process, so the tables grow from run to run (moto's Query reads every item of a "
        "table).",
        "",
        "**Latency.** Every checkout has its own buyer and a cart of "
        f"{LINES} lines (1 + 2 units of two SKUs, {SKUS} SKUs with {STOCK:,} units each), "
        "filled before the clock starts; `pm_card_visa` (no 3-D Secure). *Checkout* is from "
        f"sending POST /checkout to the GET /checkout/{{id}} (polled every "
        f"{POLL_SECONDS * 1000:.0f} ms) that saw SUCCEEDED; p50/p95 are each run's own, then "
        "the median across runs. Every checkout succeeded (the benchmark stops otherwise).",
        "",
        "| Checkouts per run | Buyers (threads) | Checkout p50 ms | Checkout p95 ms "
        "| POST /checkout p50 ms | Polls per checkout | Checkouts/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs, buyers in (
        (f"{len(seq[0].timings)} sequential", seq, 1),
        (f"{len(conc[0].timings)} concurrent", conc, report.buyers),
    ):
        rows.append(
            f"| {label} | {buyers} | {med([r.p(50) for r in runs]):.0f} "
            f"| {med([r.p(95) for r in runs]):.0f} | {med([r.post_p50 for r in runs]):.0f} "
            f"| {med([r.polls for r in runs]):.1f} | {med([r.rate for r in runs]):.2f} |"
        )
    task_ms = sum(
        med(durations[f]) * n
        for f, n in calls.items()
        if report.triggers.get(f) == "state machine" and f in durations
    )
    rows += [
        "",
        f"The first checkout after start-up (each handler's module loaded on first use) took "
        f"{report.cold.total * 1000:.0f} ms (POST {report.cold.post * 1000:.0f} ms); it is "
        "not in the table, and two warm-up checkouts ran before the first run.",
        "",
        f"**One checkout, counted.** The same checkout (a {LINES}-line cart), alone on the "
        "platform, from sending POST /checkout until it was SUCCEEDED, the streams were drained "
        f"and nothing more happened for {QUIET_SECONDS:g} s (localstripe posts each webhook "
        f"1 s after its event). The counts below were {same}; polls were "
        f"{', '.join(str(p) for p in polls)}. Requests are attributed to the function that "
        "sent them (a header added to every boto3 request made while a function runs).",
        "",
        "| Function | Invoked by | Invocations | Local duration ms (median) |",
        "|---|---|---:|---:|",
    ]
    order = {p: i for i, p in enumerate(ORDER_PARTS)}
    for function, n in sorted(
        calls.items(), key=lambda kv: (order.get(report.triggers.get(kv[0], ""), 9), kv[0])
    ):
        trigger = report.triggers.get(function, "?")
        by = {
            "PaymentWebhookFunction": "API (Stripe webhook)",
            "GetCheckoutFunction": "API (the client's polls)",
        }.get(function, "OrdersTable stream" if trigger == "stream" else trigger)
        rows.append(f"| {function} | {by} | {n} | {med(durations[function]):.0f} |")
    transitions = counts.transitions
    kinds = Counter(t.split(":", 1)[0] for t in transitions)
    not_tasks = {k: n for k, n in sorted(kinds.items()) if k != "Task"}
    rows += [
        "",
        f"**State transitions**: {len(transitions)} `StateEntered` events in the execution's "
        f"history: {' → '.join(t.split(':', 1)[1] for t in transitions)}. "
        f"{kinds['Task']} are tasks; the other {sum(not_tasks.values())} "
        f"({', '.join(f'{n} {k}' for k, n in not_tasks.items())}) are billed the same.",
        "",
        "DynamoDB requests, by the function that sent them. *Items*: items read or written "
        "(the actions of a transaction, the keys of a batch). Request units as DynamoDB "
        "on-demand would bill them, computed from the items before and after each request: "
        "reads 1 RRU per 4 KB (eventually consistent: half; GSI queries always are), writes "
        "1 WRU per KB of the larger of the old and new item, transactional writes and "
        "ConditionChecks 2 per KB, plus the writes to each GSI whose entry changes (a "
        "removed or added entry 1 per KB, a changed index key 2).",
        "",
        "| Part | Function | Operation | Requests | Items | RRU | WRU (table) | WRU (GSI) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    part_label = {
        "API": "POST /checkout",
        "state machine": "saga",
        "stream": "stream",
        "events": "events (SQS, EventBridge)",
        "webhook": "Stripe webhook",
        "poll": "polls (all)",
    }
    for part, fn, op, n, items, rru, wru, gsi in counts.dynamo_ops:
        rows.append(
            f"| {part_label.get(part, part)} | {fn} | {op} | {n} | {items} | {number(rru)} "
            f"| {number(wru)} | {number(gsi)} |"
        )
    subtotal: dict[str, list[float]] = {}
    for op_row in counts.dynamo_ops:
        row = subtotal.setdefault(op_row[0], [0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate((op_row[3], op_row[5], op_row[6], op_row[7])):
            row[i] += value
    for part in PARTS:
        if part in subtotal:
            requests_, reads, writes, index_writes = subtotal[part]
            rows.append(
                f"| **{part_label[part]}** | | *subtotal* | **{number(requests_)}** | "
                f"| **{number(reads)}** | **{number(writes)}** | **{number(index_writes)}** |"
            )
    order_parts = [p for p in ORDER_PARTS if p in subtotal]
    rows.append(
        "| **the order** | | *without polls* "
        f"| **{number(sum(subtotal[p][0] for p in order_parts))}** | "
        f"| **{number(sum(subtotal[p][1] for p in order_parts))}** "
        f"| **{number(sum(subtotal[p][2] for p in order_parts))}** "
        f"| **{number(sum(subtotal[p][3] for p in order_parts))}** |"
    )
    rows += [
        "",
        "The same without the polls, by table:",
        "",
        "| Table | Requests | RRU | WRU (table) | WRU (GSI) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, n, rru, wru, gsi in counts.dynamo_tables:
        rows.append(f"| {name} | {n} | {number(rru)} | {number(wru)} | {number(gsi)} |")
    refused = [e for e in counts.dynamo_errors if e[0] != "GetCheckoutFunction"]
    events = ", ".join(f"{t} x{n}" for t, n in counts.events) or "none"
    stripe_calls = "; ".join(f"{r} x{n} ({o})" for o, r, n in counts.stripe) or "none"
    webhooks = ", ".join(f"`{t}` x{n}" for t, n in counts.webhooks) or "none"
    sfn_invokes = sum(n for p, s, a, n in counts.other_aws if p == "platform" and a == "Invoke")
    streams = [
        (a, n) for p, s, a, n in counts.other_aws if p == "platform" and s == "dynamodbstreams"
    ]
    others = [
        f"{a} x{n} ({part_label.get(p, p)})"
        for p, s, a, n in counts.other_aws
        if p not in ("platform", "poll") and a != "PutEvents"
    ]
    rows += [
        "",
        "- **Refused conditional writes** (billed like a write of the item): "
        + (
            "; ".join(f"{f}: {e} x{n}" for f, e, n in refused)
            + (
                ". The webhook's attempt to resume a saga that is not waiting for 3-D Secure."
                if all(f == "PaymentWebhookFunction" for f, _e, _n in refused)
                else "."
            )
            if refused
            else "none"
        ),
        f"- **EventBridge**: {counts.put_events_calls} PutEvents request(s), entries: {events}.",
        f"- **Stripe API requests**: {len(window.stripe)}: {stripe_calls}. "
        f"**Webhooks** localstripe sent: {webhooks}; each is an API Gateway request, a "
        "Lambda invocation and the DynamoDB requests above. Stripe itself sends an endpoint "
        "every event type it subscribes to (for this flow also `payment_intent.created`, "
        "`payment_intent.amount_capturable_updated`, `charge.*`), each at that price: "
        "subscribing only to the types the handler acts on keeps this line at one or none.",
        f"- **Other AWS requests of the order**: {', '.join(others) or 'none'}. Step Functions "
        f"invoked the task functions {sfn_invokes} times (billed as Lambda requests, above). "
        "While the window was open, the stream pollers made "
        + (", ".join(f"{a} x{n}" for a, n in streams) or "no requests")
        + " (DynamoDB Streams reads by a Lambda trigger are free).",
    ]

    lines = cost_lines(counts, window, report.triggers)
    total = sum(line.per_thousand for line in lines)
    poll_usd, poll_rru = poll_cost(counts, window)
    median_polls = med([float(p) for p in polls])
    rru, wru = dynamo_units(counts, set(ORDER_PARTS))
    old_dynamo = (wru * OLD_DYNAMODB["wru"] + rru * OLD_DYNAMODB["rru"]) * 1000
    new_dynamo = (wru * PRICES["dynamodb_wru"] + rru * PRICES["dynamodb_rru"]) * 1000
    rows += [
        "",
        "**What 1,000 orders cost on AWS**, from the counts above, at list prices in "
        "**us-east-1** (2025; free tiers not applied). Price pages: *AWS Step Functions "
        "Pricing* (Standard workflows), *AWS Lambda Pricing* (requests; duration, Arm), "
        "*Amazon DynamoDB Pricing for On-Demand Capacity*, *Amazon EventBridge Pricing* "
        "(custom events), *Amazon API Gateway Pricing* (REST APIs, first 333 million), "
        "*Amazon CloudWatch Pricing* (Logs, Standard ingestion).",
        "",
        "| Service | Counted per order | Per order | Price | Per 1,000 orders |",
        "|---|---|---:|---|---:|",
    ]
    for line in lines:
        rows.append(
            f"| {line.service} | {line.counted} | {number(round(line.per_order, 1))} "
            f"| {line.price} | {money(line.per_thousand)} |"
        )
    rows += [
        f"| **Total** | without the client's polls | | | **{money(total)}** |",
        "",
        f"- **Polls** are the client's choice: one GET /checkout/{{id}} is an API Gateway "
        f"request, a Lambda invocation and a GetItem ({number(poll_rru)} RRU), "
        f"{money(poll_usd * 1000)} per 1,000 polls with the same duration and log "
        f"assumptions. At the {median_polls:g} polls of the counted checkout (every "
        f"{POLL_SECONDS * 1000:.0f} ms) that adds {money(poll_usd * 1000 * median_polls)} "
        f"per 1,000 orders ({poll_usd * median_polls / (total / 1000):.0%} of the total "
        "above); a client polling once a second would make 2 or 3.",
        f"- **Lambda duration is an assumption**: {ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms per "
        "invocation at the template's 512 MB. The local durations above include the "
        "emulator's latency and exclude Stripe's real one (an authorization takes hundreds "
        "of ms); with the local durations the line would be "
        + money(
            sum(
                i.memory_mb / 1024 * i.seconds
                for i in window.invocations
                if of_order(i.function, report.triggers)
            )
            * 1000
            * PRICES["lambda_gb_second"]
        )
        + ". Lambda bills duration per 1 ms.",
        "- **CloudWatch Logs is an estimate**: the handlers' own log lines were counted "
        f"({sum(n for o, n in window.log_bytes.items() if of_order(o, report.triggers))} bytes "
        f"for the order, at the template's INFO level); Lambda's own records are assumed "
        f"{ASSUMED_PLATFORM_LOG_BYTES} bytes per invocation. Storage of logs is not included.",
        f"- **DynamoDB** at the on-demand prices before the cut of 1 November 2024 ($1.25 per "
        f"million WRU, $0.25 per million RRU) would be {money(old_dynamo)} per 1,000 orders "
        f"instead of {money(new_dynamo)}.",
        "- **Not included**: Stripe's fees (outside AWS, and per payment far above all of "
        "this), X-Ray (the template turns tracing on: $5.00 per million traces recorded, "
        "depending on sampling), storage, point-in-time recovery, data transfer, SSM and "
        "KMS requests (none during a warm checkout), DynamoDB Streams reads by the Lambda "
        "trigger (free).",
    ]
    for i, c in enumerate(all_counts):
        if c.scheduled:
            rows.append(
                f"- **Run {i + 1}**: {', '.join(c.scheduled)} (a schedule) happened to run "
                "during the window; its invocations and requests are left out of the counts."
            )
    if seen != len(all_counts):
        for i, c in enumerate(all_counts):
            if stable_key(c) != usual:
                rows.append(
                    f"- **Run {i + 1} differed**: {c.invocations}, "
                    f"{[r for r in c.dynamo_ops if r[0] != 'poll']}, {c.transitions}"
                )
    rows += ["", *interpretation(report, counts, lines, total, task_ms, poll_usd, median_polls)]
    return "\n".join(rows) + "\n"


def interpretation(
    report: Report,
    counts: Counts,
    lines: list[CostLine],
    total: float,
    task_ms: float,
    poll_usd: float,
    polls: float,
) -> list[str]:
    seq_p50 = statistics.median(r.p(50) for r in report.sequential)
    conc_p50 = statistics.median(r.p(50) for r in report.concurrent)
    seq_rate = statistics.median(r.rate for r in report.sequential)
    conc_rate = statistics.median(r.rate for r in report.concurrent)
    conc_polls = statistics.median(r.polls for r in report.concurrent)
    polls_per_second = statistics.median(
        sum(t.polls for t in r.timings) / r.seconds for r in report.concurrent
    )
    sfn = next(line for line in lines if line.service.startswith("Step Functions"))
    rru, wru = dynamo_units(counts, set(ORDER_PARTS))
    transactional = sum(r[6] for r in counts.dynamo_ops if r[2] == "TransactWriteItems")
    return [
        "**Reading it.** Local latency is the emulator's, not AWS's: in a sequential "
        f"checkout (p50 {seq_p50:.0f} ms) the task handlers ran for about {task_ms:.0f} ms "
        "(local durations, each mostly waiting on moto over HTTP, with every DynamoDB "
        "request serialized behind one lock); the rest is moto's Step Functions interpreter "
        f"between states and the {POLL_SECONDS * 1000:.0f} ms polling. With "
        f"{report.buyers} buyers the platform completed {conc_rate:.2f} checkouts/s against "
        f"{seq_rate:.2f} one at a time, and the p50 rose to {conc_p50:.0f} ms: everything "
        "shares one Python process and its GIL, so concurrency queues, and the buyers' "
        f"polls ({conc_polls:g} per checkout, {polls_per_second:.0f} per second, each a "
        "Lambda invocation and a GetItem through the same serialized emulator) compete with "
        "the sagas for it (and other work on the machine, see the load average, takes its "
        "share). On AWS, "
        "Lambda cold starts, Stripe's real latency and Step Functions' own per-state "
        "overhead set the latency instead; these numbers compare versions of this code, "
        "they do not predict it.",
        "",
        f"The cost is counted, not guessed: the {len(counts.transitions)} state transitions "
        f"are {sfn.per_thousand / total:.0%} of the ${total:.3f} per 1,000 orders, because "
        "Standard workflows bill per transition and everything else is priced per million "
        f"requests. DynamoDB is {number(wru)} WRU and {number(rru)} RRU per order, "
        f"{number(transactional)} of the WRU from transactions (reservation, commit, cart "
        "clearing: 2 units per item). A client polling every "
        f"{POLL_SECONDS * 1000:.0f} ms costs "
        f"{poll_usd * polls / (total / 1000):.0%} of an order on top; retries and "
        "compensations (not exercised here) add transitions and invocations, and a 3-D "
        "Secure wait adds a task, a webhook and its writes.",
    ]


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument("--sequential", type=int, default=20, help="sequential checkouts per run")
    parser.add_argument("--concurrent", type=int, default=16, help="concurrent checkouts per run")
    parser.add_argument("--buyers", type=int, default=8, help="threads for the concurrent ones")
    parser.add_argument("--runs", type=int, default=3, help="runs (median reported)")
    args = common.parse_arguments(parser, arguments)
    print(
        f"checkout costs: {args.runs} runs of {args.sequential} sequential and "
        f"{args.concurrent} concurrent checkouts ({args.buyers} buyers)",
        file=sys.stderr,
    )
    command = common.command_line(__file__, arguments)
    report = measure(args.sequential, args.concurrent, args.buyers, args.runs, command)
    common.publish(to_markdown(report), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
