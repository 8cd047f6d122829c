"""A parcel carrier, emulated: the local platform's "local" carrier (shop.fulfillment.carriers).

Served from a thread of the platform process, like the Stripe emulator. It behaves as a real
carrier does where the shop has to cope:
- a label is bought once per shipment: the same shipment_id again answers the same label;
- each parcel then moves on the platform's clock (shop.clock.now, so a test that moves the clock
  makes its events due at once): pre_transit at label time, in_transit one hop later,
  out_for_delivery after two, delivered after three, or `failure` instead when the address
  (its name or line1) says "undeliverable". A parcel's timeline is fixed when its label is
  bought (a later `hop_seconds` applies to later labels);
- each due event is sent to the registered webhook, signed (`Carrier-Signature`, see
  shop.fulfillment.carriers.signature_header), in order of due time, and retried with backoff
  until the receiver answers 2xx;
- it misbehaves, as carriers do: an event is sent twice (`duplicate_rate`), or held back and sent
  after the parcel's next event (`reorder_rate`). The draws come from a `random.Random` seeded
  with the tracking number: a parcel misbehaves the same way in every run;
- a voided label sends no more tracking; a label in use (in_transit or later) is not voided.

With a state folder, labels and which of their events were accepted are journaled
(shop_local.persistence.Journal) before the answer is sent, so a restart, even after `kill -9`,
neither loses a label nor resends what the receiver accepted (an event accepted just before a
crash may be sent again: carriers deliver at least once). The webhook and the misbehaviour
rates are not kept: the platform registers them at each start.

HTTP API (JSON): POST /v1/labels, POST /v1/labels/<tracking>/void, GET /v1/trackers/<tracking>,
GET /v1/labels/<tracking>.pdf.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import requests
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from shop.clock import iso_at, now
from shop.fulfillment.carriers import (
    SIGNATURE_HEADER,
    TrackingStatus,
    signature_header,
    tracking_rank,
)
from shop.orders.models import ShippingAddress
from shop_local.persistence import Journal

log = logging.getLogger(__name__)

CARRIER = "local"
LOOP_SECONDS = 0.1  # how often due events are looked for (the clock may have moved)
FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS = 0.1, 10.0  # backoff of a refused delivery
WARN_AFTER_ATTEMPTS = 20  # a delivery refused this often is logged (a wrong secret, a bug)
WEBHOOK_TIMEOUT = (2.0, 10.0)
MAX_HOP_SECONDS = 86_400.0
_TRACKING = r"LC\d{12}"


class _LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    shipment_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    warehouse_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    address: ShippingAddress


@dataclass
class _Event:
    status: TrackingStatus
    due: float  # on the platform's clock
    detail: str
    accepted: bool = False  # the receiver answered 2xx
    # The misbehaviour, drawn when the event first comes due (None: not yet).
    duplicate: bool | None = None
    held: bool | None = None
    # Delivery bookkeeping, in memory only.
    attempts: int = 0
    retry_at: float = 0.0  # time.monotonic()


@dataclass
class _Parcel:
    tracking_number: str
    shipment_id: str
    warehouse_id: str
    address: dict[str, Any]
    created_at: float
    events: list[_Event]
    voided_at: float | None = None

    def status(self, at: float) -> TrackingStatus:
        """Where the parcel is at `at`: its last event due by then."""
        happened = [e.status for e in self.events if e.due <= at]
        return happened[-1] if happened else self.events[0].status

    def to_json(self) -> dict[str, Any]:
        return {
            "tracking_number": self.tracking_number,
            "shipment_id": self.shipment_id,
            "warehouse_id": self.warehouse_id,
            "address": self.address,
            "created_at": self.created_at,
            "voided_at": self.voided_at,
            "events": [
                {
                    k: getattr(e, k)
                    for k in ("status", "due", "detail", "accepted", "duplicate", "held")
                }
                for e in self.events
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Parcel:
        return cls(
            tracking_number=data["tracking_number"],
            shipment_id=data["shipment_id"],
            warehouse_id=data["warehouse_id"],
            address=data["address"],
            created_at=data["created_at"],
            voided_at=data["voided_at"],
            events=[_Event(**e) for e in data["events"]],
        )


@dataclass
class _Webhook:
    url: str
    secret: str
    session: requests.Session = field(default_factory=requests.Session)


def _timeline(address: ShippingAddress, warehouse_id: str) -> list[tuple[TrackingStatus, str]]:
    undeliverable = "undeliverable" in f"{address.name} {address.line1}".lower()
    return [
        ("pre_transit", f"label created; awaiting pickup at {warehouse_id}"),
        ("in_transit", f"picked up at {warehouse_id}"),
        ("out_for_delivery", f"out for delivery in {address.city}"),
        ("failure", "address undeliverable; returning to sender")
        if undeliverable
        else ("delivered", "delivered"),
    ]


def _error(status: int, kind: str, message: str) -> tuple[int, Any]:
    return status, {"error": {"type": kind, "message": message}}


class CarrierEmulator:
    def __init__(self, port: int, state_dir: Path | None = None, hop_seconds: float = 30.0) -> None:
        """`state_dir`: keep labels there across restarts (None: start empty)."""
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._lock = threading.RLock()  # reentrant: a journal compaction takes a snapshot
        self._parcels: dict[str, _Parcel] = {}
        self._by_shipment: dict[str, str] = {}
        self._active: set[str] = set()  # parcels with events still to send
        self._rngs: dict[str, random.Random] = {}
        self._webhook: _Webhook | None = None
        self._duplicate_rate, self._reorder_rate = 0.1, 0.1
        self._hop_seconds = 30.0
        self.journal = (
            Journal(state_dir, "carrier", self._snapshot) if state_dir is not None else None
        )
        self._journaling = False
        self._wake, self._stopping = threading.Event(), threading.Event()
        self.configure(hop_seconds=hop_seconds)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ life
    def start(self) -> CarrierEmulator:
        if self.journal is not None:
            snapshot, records = self.journal.recover()
            self._restore(snapshot, records)
            self.journal.compact(self._snapshot())
            self._journaling = True
        self._server = _Server(("127.0.0.1", self.port), self)
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="carrier-api",
                daemon=True,
            ),
            threading.Thread(target=self._send_loop, name="carrier-webhooks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=15)
        with self._lock:
            if self.journal is not None and self._journaling:
                self._journaling = False
                self.journal.compact(self._snapshot())  # the next start replays nothing
                self.journal.close()

    # ------------------------------------------------------------------ controls
    def register_webhook(self, url: str, secret: str) -> None:
        """Sign and send every tracking event to `url` (one webhook: this replaces any)."""
        with self._lock:
            self._webhook = _Webhook(url, secret)
        self._wake.set()

    def configure(
        self,
        *,
        duplicate_rate: float | None = None,
        reorder_rate: float | None = None,
        hop_seconds: float | None = None,
    ) -> dict[str, float]:
        """Change how the carrier misbehaves (from the next event) and how long a hop of the
        next labels takes; ValueError for a rate outside [0, 1] or a hop outside (0, 1 day]."""
        for name, rate in (("duplicate_rate", duplicate_rate), ("reorder_rate", reorder_rate)):
            if rate is not None and not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if hop_seconds is not None and not 0.0 < hop_seconds <= MAX_HOP_SECONDS:
            raise ValueError(f"hop_seconds must be within (0, {MAX_HOP_SECONDS:.0f}]")
        with self._lock:
            if duplicate_rate is not None:
                self._duplicate_rate = float(duplicate_rate)
            if reorder_rate is not None:
                self._reorder_rate = float(reorder_rate)
            if hop_seconds is not None:
                self._hop_seconds = float(hop_seconds)
            settings = self.settings()
        self._wake.set()
        return settings

    def settings(self) -> dict[str, float]:
        with self._lock:
            return {
                "duplicate_rate": self._duplicate_rate,
                "reorder_rate": self._reorder_rate,
                "hop_seconds": self._hop_seconds,
            }

    def pending(self) -> int:
        """Tracking events due on the clock that the webhook receiver has not accepted."""
        at = now()
        with self._lock:
            return sum(
                1
                for tracking in self._active
                for event in self._parcels[tracking].events
                if not event.accepted and event.due <= at
            )

    # ------------------------------------------------------------------ the API
    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """One request: (status, a JSON value, or bytes for the label's PDF)."""
        path = path.split("?", 1)[0]
        if path == "/v1/labels":
            return self._buy(body) if method == "POST" else _error(405, "invalid_request", method)
        if match := re.fullmatch(rf"/v1/labels/({_TRACKING})/void", path):
            if method != "POST":
                return _error(405, "invalid_request", method)
            return self._void(match.group(1))
        if match := re.fullmatch(rf"/v1/labels/({_TRACKING})\.pdf", path):
            if method != "GET":
                return _error(405, "invalid_request", method)
            return self._label_pdf(match.group(1))
        if match := re.fullmatch(rf"/v1/trackers/({_TRACKING})", path):
            if method != "GET":
                return _error(405, "invalid_request", method)
            return self._tracker(match.group(1))
        return _error(404, "not_found", f"no route {method} {path}")

    def _buy(self, body: bytes) -> tuple[int, Any]:
        try:
            request = _LabelRequest.model_validate_json(body)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in error.errors(include_url=False, include_input=False)
            )
            return _error(400, "invalid_request", problems)
        with self._lock:
            known = self._by_shipment.get(request.shipment_id)
            if known is not None:  # idempotent on the shipment: the label it already has
                return 200, self._label(self._parcels[known])
            tracking = self._new_tracking_number()
            created, hop = now(), self._hop_seconds
            parcel = _Parcel(
                tracking_number=tracking,
                shipment_id=request.shipment_id,
                warehouse_id=request.warehouse_id,
                address=request.address.model_dump(),
                created_at=created,
                events=[
                    _Event(status, created + k * hop, detail)
                    for k, (status, detail) in enumerate(
                        _timeline(request.address, request.warehouse_id)
                    )
                ],
            )
            self._add(parcel)
            self._record({"label": parcel.to_json()})
        self._wake.set()
        return 201, self._label(parcel)

    def _void(self, tracking: str) -> tuple[int, Any]:
        with self._lock:
            parcel = self._parcels.get(tracking)
            if parcel is None:
                return _error(404, "not_found", f"no label {tracking}")
            if parcel.voided_at is None:
                status = parcel.status(now())
                if tracking_rank(status) >= tracking_rank("in_transit"):
                    return _error(409, "label_in_use", f"the parcel is {status}: too late to void")
                parcel.voided_at = now()
                self._active.discard(tracking)
                self._record({"void": [tracking, parcel.voided_at]})
        return 200, {"tracking_number": tracking, "voided": True}

    def _tracker(self, tracking: str) -> tuple[int, Any]:
        with self._lock:
            parcel = self._parcels.get(tracking)
            if parcel is None:
                return _error(404, "not_found", f"no tracker {tracking}")
            until = now() if parcel.voided_at is None else min(now(), parcel.voided_at)
            return 200, {
                "tracking_number": tracking,
                "carrier": CARRIER,
                "status": parcel.status(until),
                "voided": parcel.voided_at is not None,
                "events": [_event_body(parcel, e) for e in parcel.events if e.due <= until],
            }

    def _label_pdf(self, tracking: str) -> tuple[int, Any]:
        with self._lock:
            parcel = self._parcels.get(tracking)
            if parcel is None:
                return _error(404, "not_found", f"no label {tracking}")
            address = parcel.address
            lines = [
                f"{CARRIER.upper()} CARRIER  {tracking}",
                f"from {parcel.warehouse_id}",
                address["name"],
                address["line1"],
                address["line2"],
                f"{address['postal_code']} {address['city']}",
                address["country"],
            ]
        return 200, _pdf([line for line in lines if line])

    def _label(self, parcel: _Parcel) -> dict[str, Any]:
        return {
            "carrier": CARRIER,
            "tracking_number": parcel.tracking_number,
            "label_url": f"{self.url}/v1/labels/{parcel.tracking_number}.pdf",
            "created_at": iso_at(parcel.created_at),
        }

    def _new_tracking_number(self) -> str:
        while True:
            tracking = f"LC{secrets.randbelow(10**12):012d}"
            if tracking not in self._parcels:
                return tracking

    # ------------------------------------------------------------------ the webhooks
    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(LOOP_SECONDS)
            self._wake.clear()
            for tracking, index in self._due():
                if self._stopping.is_set():
                    return
                self._deliver(tracking, index)

    def _due(self) -> list[tuple[str, int]]:
        """The events to send now, in order of due time: due, not accepted, not backing off,
        and not held back behind the parcel's next event."""
        at, clock = now(), time.monotonic()
        due: list[tuple[float, str, int]] = []
        with self._lock:
            if self._webhook is None:
                return []
            for tracking in self._active:
                events = self._parcels[tracking].events
                for index, event in enumerate(events):
                    if event.due > at:
                        break  # the rest come later
                    if event.accepted:
                        continue
                    if event.duplicate is None or event.held is None:
                        self._draw(tracking, index, event)
                    waiting = event.held and not events[index + 1].accepted
                    if event.retry_at <= clock and not waiting:
                        due.append((event.due, tracking, index))
        return [(tracking, index) for _, tracking, index in sorted(due)]

    def _draw(self, tracking: str, index: int, event: _Event) -> None:
        rng = self._rngs.setdefault(tracking, random.Random(tracking))
        # Both draws every time, so that the sequence of a parcel does not depend on the rates.
        duplicate, held = rng.random(), rng.random()
        event.duplicate = duplicate < self._duplicate_rate
        last = index == len(self._parcels[tracking].events) - 1  # nothing to be held behind
        event.held = not last and held < self._reorder_rate

    def _deliver(self, tracking: str, index: int) -> None:
        with self._lock:
            parcel, webhook = self._parcels[tracking], self._webhook
            event = parcel.events[index]
            if webhook is None or event.accepted or parcel.voided_at is not None:
                return
            body = json.dumps(_event_body(parcel, event), separators=(",", ":")).encode()
            copies = 2 if event.duplicate else 1
        accepted = self._post(webhook, body)
        if accepted and copies == 2:
            self._post(webhook, body)  # the duplicate: what the receiver says of it is moot
        with self._lock:
            if accepted:
                event.accepted = True
                if all(e.accepted for e in parcel.events):
                    self._active.discard(tracking)
                self._record({"accepted": [tracking, index]})
                return
            event.attempts += 1
            delay = min(FIRST_RETRY_SECONDS * 2 ** (event.attempts - 1), MAX_RETRY_SECONDS)
            event.retry_at = time.monotonic() + delay
            if event.attempts == WARN_AFTER_ATTEMPTS:
                log.warning("carrier webhook %s refused %s times", webhook.url, event.attempts)

    def _post(self, webhook: _Webhook, body: bytes) -> bool:
        """One signed delivery; True if the receiver accepted it (2xx)."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(body, webhook.secret, now()),
            "User-Agent": "shop-local-carrier/1",
        }
        try:
            response = webhook.session.post(
                webhook.url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT
            )
        except requests.RequestException as error:
            log.debug("carrier webhook %s: %s", webhook.url, error)
            return False
        return 200 <= response.status_code < 300

    # ------------------------------------------------------------------ durability
    def _add(self, parcel: _Parcel) -> None:
        self._parcels[parcel.tracking_number] = parcel
        self._by_shipment[parcel.shipment_id] = parcel.tracking_number
        if parcel.voided_at is None and not all(e.accepted for e in parcel.events):
            self._active.add(parcel.tracking_number)

    def _record(self, change: dict[str, Any]) -> None:
        """Journal a change (under the lock, so the journal's order is the changes' order)."""
        if self.journal is not None and self._journaling:
            self.journal.append(json.dumps(change).encode())

    def _snapshot(self) -> bytes:
        with self._lock:
            return json.dumps([p.to_json() for p in self._parcels.values()]).encode()

    def _restore(self, snapshot: bytes | None, records: list[bytes]) -> None:
        with self._lock:
            self._parcels.clear()
            self._by_shipment.clear()
            self._active.clear()
            for data in json.loads(snapshot) if snapshot is not None else []:
                self._add(_Parcel.from_json(data))
            for record in records:
                change = json.loads(record)
                if "label" in change:
                    self._add(_Parcel.from_json(change["label"]))
                elif "accepted" in change:
                    tracking, index = change["accepted"]
                    self._parcels[tracking].events[index].accepted = True
                elif "void" in change:
                    tracking, at = change["void"]
                    self._parcels[tracking].voided_at = at
            self._active = {
                t
                for t, p in self._parcels.items()
                if p.voided_at is None and not all(e.accepted for e in p.events)
            }


def _event_body(parcel: _Parcel, event: _Event) -> dict[str, Any]:
    """A tracking event as the webhook and the tracker carry it. The id is the parcel's and
    the status's: a duplicate has the same."""
    return {
        "id": f"evt_{parcel.tracking_number}_{event.status}",
        "type": "tracker.updated",
        "tracking_number": parcel.tracking_number,
        "status": event.status,
        "occurred_at": iso_at(event.due),
        "detail": event.detail,
    }


def _pdf(lines: list[str]) -> bytes:
    """A one-page 4x6 inch label, as a minimal PDF (Helvetica, no images)."""

    def text(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = " 0 -22 Td ".join(f"({text(line)}) Tj" for line in lines)
    stream = f"BT /F1 14 Tf 24 390 Td {shown} ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: CarrierEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: the shop's calls reuse their connection

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= 1_000_000:
            status, payload = _error(400, "invalid_request", "a bad Content-Length")
            self.close_connection = True
        else:
            body = self.rfile.read(length)
            try:
                status, payload = self.server.emulator.handle(method, self.path, body)
            except Exception:  # a bug here must not look like a lost connection
                log.exception("carrier emulator: %s %s", method, self.path)
                status, payload = _error(500, "api_error", "the carrier emulator failed")
        if isinstance(payload, bytes):
            data, content_type = payload, "application/pdf"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log (the platform's gateway keeps its own)."""
