"""The carrier emulator behaves as a carrier does where the shop has to cope: one label per
shipment, tracking that moves on the platform's clock and arrives signed, retried until
accepted, sometimes twice and sometimes out of order, and labels that survive a restart.

No platform here: the emulator on its own port, and a small webhook receiver that checks each
delivery's signature with the shop's own adapter (LocalCarrier.parse_webhook)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from shop import config
from shop.errors import Conflict, DependencyUnavailable, InvalidWebhook
from shop.fulfillment.carriers import Label, LocalCarrier, TrackingUpdate
from shop.orders.models import ShippingAddress
from shop_local.carrier_emulator import CarrierEmulator

SECRET = "carrier_whsec_test"
HOP = 60.0  # seconds of the platform's clock; the tests move the clock a hop at a time
ADDRESS = ShippingAddress(
    name="Ada Lovelace",
    line1="12 St James's Square",
    city="London",
    postal_code="SW1Y 4JH",
    country="GB",
)
UNDELIVERABLE = ADDRESS.model_copy(update={"line1": "1 Undeliverable Lane"})
JOURNEY = ["pre_transit", "in_transit", "out_for_delivery", "delivered"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 5.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(0.02)


class Receiver:
    """The shop's side of the webhook: verifies each delivery, records what it accepted, and
    refuses the first `refuse` deliveries (503) to make the carrier retry."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[TrackingUpdate] = []
        self.refuse, self.refused, self.invalid = 0, 0, 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.receive(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/carriers/local/webhook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return 503
            try:
                update = LocalCarrier().parse_webhook(body, headers)
            except InvalidWebhook:
                self.invalid += 1
                return 400
            self.accepted.append(update)
            return 200

    def of(self, tracking_number: str) -> list[TrackingUpdate]:
        with self.lock:
            return [u for u in self.accepted if u.tracking_number == tracking_number]

    def statuses(self, tracking_number: str) -> list[str]:
        return [u.status for u in self.of(tracking_number)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def carrier_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIER_WEBHOOK_SECRET_PARAMETER", "/shop/carriers/webhook-secret")
    monkeypatch.setattr(config, "secret", lambda variable: SECRET)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the platform's clock forward (restored after the test)."""
    monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", "0")

    def advance(seconds: float) -> None:
        offset = float(os.environ["SHOP_CLOCK_OFFSET_SECONDS"]) + seconds
        monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", str(offset))

    return advance


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.close()
    assert receiving.invalid == 0, "every delivery is signed"


def started(state_dir: Path | None, receiver: Receiver | None) -> CarrierEmulator:
    emulator = CarrierEmulator(free_port(), state_dir, hop_seconds=HOP).start()
    emulator.configure(duplicate_rate=0, reorder_rate=0)  # well behaved unless a test says
    if receiver is not None:
        emulator.register_webhook(receiver.url, SECRET)
    return emulator


@pytest.fixture
def emulator(
    receiver: Receiver, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CarrierEmulator]:
    running = started(None, receiver)
    monkeypatch.setenv("CARRIER_API_BASE", running.url)
    yield running
    running.stop()


def buy(shipment_id: str, address: ShippingAddress = ADDRESS) -> Label:
    return LocalCarrier().buy_label(shipment_id, "wh-london", address)


def deliver_all(receiver: Receiver, tracking: str, clock: Callable[[float], None]) -> None:
    """A hop at a time, each event arriving before the clock moves again."""
    for hop in range(4):
        wait_for(lambda: len(receiver.of(tracking)) > hop, what=f"event {hop + 1}")  # noqa: B023
        if hop < 3:
            clock(HOP)


# ----------------------------------------------------------------------------- labels
def test_the_same_shipment_gets_the_same_label(emulator: CarrierEmulator) -> None:
    first = buy("ord-1.wh-london")
    assert first == buy("ord-1.wh-london")
    assert first.carrier == "local"
    assert first.tracking_number.startswith("LC")
    assert len(first.tracking_number) == 14
    assert first.tracking_number[2:].isdigit()
    assert buy("ord-2.wh-london").tracking_number != first.tracking_number


def test_a_new_label_is_created_and_a_repeat_is_answered_as_it_was(
    emulator: CarrierEmulator,
) -> None:
    request = {
        "shipment_id": "ord-3.wh-london",
        "warehouse_id": "wh-london",
        "address": ADDRESS.model_dump(),
    }
    created = requests.post(f"{emulator.url}/v1/labels", json=request, timeout=5)
    again = requests.post(f"{emulator.url}/v1/labels", json=request, timeout=5)
    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json() == again.json()
    assert set(created.json()) == {"carrier", "tracking_number", "label_url", "created_at"}


def test_the_label_url_serves_the_label(emulator: CarrierEmulator) -> None:
    label = requests.get(buy("ord-4.wh-london").label_url, timeout=5)
    assert label.status_code == 200
    assert label.headers["Content-Type"] == "application/pdf"
    assert label.content.startswith(b"%PDF-")
    assert b"Ada Lovelace" in label.content


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"shipment_id": "ord-5.wh-london", "warehouse_id": "wh-london"}',
        b'{"shipment_id": "", "warehouse_id": "wh-london", "address": {}}',
    ],
)
def test_a_label_request_that_is_not_a_label_is_refused(
    emulator: CarrierEmulator, body: bytes
) -> None:
    response = requests.post(f"{emulator.url}/v1/labels", data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


def test_unknown_labels_and_trackers_are_not_found(emulator: CarrierEmulator) -> None:
    for response in (
        requests.post(f"{emulator.url}/v1/labels/LC000000000000/void", timeout=5),
        requests.get(f"{emulator.url}/v1/trackers/LC000000000000", timeout=5),
        requests.get(f"{emulator.url}/v1/elsewhere", timeout=5),
    ):
        assert response.status_code == 404


def test_a_carrier_that_cannot_be_reached_is_a_dependency_unavailable() -> None:
    with pytest.raises(DependencyUnavailable):
        LocalCarrier(f"http://127.0.0.1:{free_port()}").buy_label("ord-6.wh-x", "wh-x", ADDRESS)


# ----------------------------------------------------------------------------- tracking
def test_a_parcel_reports_every_status_up_to_delivered(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    tracking = buy("ord-10.wh-london").tracking_number
    deliver_all(receiver, tracking, clock)
    updates = receiver.of(tracking)
    assert [u.status for u in updates] == JOURNEY
    assert [u.event_id for u in updates] == [f"evt_{tracking}_{s}" for s in JOURNEY]
    assert [u.occurred_at for u in updates] == sorted(u.occurred_at for u in updates)
    tracker = requests.get(f"{emulator.url}/v1/trackers/{tracking}", timeout=5).json()
    assert tracker["status"] == "delivered"
    assert [e["status"] for e in tracker["events"]] == JOURNEY
    wait_for(lambda: emulator.pending() == 0, what="the carrier to see it accepted")


def test_an_event_is_not_sent_before_its_time(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    tracking = buy("ord-11.wh-london").tracking_number
    wait_for(lambda: receiver.statuses(tracking) == ["pre_transit"], what="pre_transit")
    clock(HOP - 1)
    time.sleep(0.4)  # several of the carrier's rounds
    assert receiver.statuses(tracking) == ["pre_transit"]
    clock(1)
    wait_for(lambda: receiver.statuses(tracking) == ["pre_transit", "in_transit"])


def test_an_undeliverable_address_ends_in_failure(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    tracking = buy("ord-12.wh-london", UNDELIVERABLE).tracking_number
    deliver_all(receiver, tracking, clock)
    assert receiver.statuses(tracking) == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "failure",
    ]


def test_an_undeliverable_name_ends_in_failure_too(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    address = ADDRESS.model_copy(update={"name": "UNDELIVERABLE test"})
    tracking = buy("ord-13.wh-london", address).tracking_number
    deliver_all(receiver, tracking, clock)
    assert receiver.statuses(tracking)[-1] == "failure"


def test_a_backlog_is_sent_in_order_of_due_time(
    receiver: Receiver, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = started(None, None)  # no webhook yet: the events wait
    monkeypatch.setenv("CARRIER_API_BASE", emulator.url)
    try:
        first = buy("ord-14.wh-london").tracking_number
        clock(HOP / 2)
        second = buy("ord-15.wh-london").tracking_number
        clock(4 * HOP)
        assert emulator.pending() == 8
        emulator.register_webhook(receiver.url, SECRET)
        wait_for(lambda: len(receiver.accepted) == 8, what="the backlog")
        assert [u.occurred_at for u in receiver.accepted] == sorted(
            u.occurred_at for u in receiver.accepted
        )
        assert [u.tracking_number for u in receiver.accepted] == [first, second] * 4
        wait_for(lambda: emulator.pending() == 0, what="the carrier to see it accepted")
    finally:
        emulator.stop()


def test_a_refused_delivery_is_retried_until_accepted(
    emulator: CarrierEmulator, receiver: Receiver
) -> None:
    receiver.refuse = 3
    tracking = buy("ord-16.wh-london").tracking_number
    wait_for(lambda: receiver.statuses(tracking) == ["pre_transit"], what="the retries")
    assert receiver.refused == 3
    wait_for(lambda: emulator.pending() == 0, what="the carrier to see it accepted")


def test_a_receiver_that_is_down_gets_its_events_once_it_is_up(
    emulator: CarrierEmulator, receiver: Receiver
) -> None:
    emulator.register_webhook(f"http://127.0.0.1:{free_port()}/down", SECRET)
    tracking = buy("ord-17.wh-london").tracking_number
    time.sleep(0.3)
    assert emulator.pending() == 1  # due, tried, not accepted
    emulator.register_webhook(receiver.url, SECRET)
    wait_for(lambda: receiver.statuses(tracking) == ["pre_transit"], timeout=8)
    wait_for(lambda: emulator.pending() == 0, what="the carrier to see it accepted")


# ----------------------------------------------------------------------------- misbehaviour
def test_with_duplicate_rate_1_every_event_arrives_twice_with_the_same_id(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    emulator.configure(duplicate_rate=1)
    tracking = buy("ord-20.wh-london").tracking_number
    clock(3 * HOP)
    wait_for(lambda: len(receiver.of(tracking)) == 8, what="every event twice")
    ids = [u.event_id for u in receiver.of(tracking)]
    assert sorted(ids) == sorted(2 * [f"evt_{tracking}_{s}" for s in JOURNEY])
    assert all(ids[i] == ids[i + 1] for i in range(0, 8, 2))  # the copy right after


def test_with_reorder_rate_1_an_event_arrives_after_a_later_one(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    emulator.configure(reorder_rate=1)
    tracking = buy("ord-21.wh-london").tracking_number
    clock(3 * HOP)
    wait_for(lambda: len(receiver.of(tracking)) == 4, what="every event")
    statuses = receiver.statuses(tracking)
    assert sorted(statuses) == sorted(JOURNEY)
    assert statuses != JOURNEY
    assert statuses.index("delivered") < statuses.index("out_for_delivery")


def test_a_held_event_waits_for_the_next_one_of_its_parcel(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    emulator.configure(reorder_rate=1)
    tracking = buy("ord-22.wh-london").tracking_number
    time.sleep(0.3)
    assert receiver.statuses(tracking) == []  # pre_transit is held behind in_transit
    assert emulator.pending() == 1
    emulator.configure(reorder_rate=0)  # in_transit itself is not held
    clock(HOP)
    wait_for(lambda: receiver.statuses(tracking) == ["in_transit", "pre_transit"])


def test_rates_and_hops_outside_their_range_are_refused(emulator: CarrierEmulator) -> None:
    for bad in ({"duplicate_rate": 1.5}, {"reorder_rate": -0.1}, {"hop_seconds": 0}):
        with pytest.raises(ValueError, match="must be within"):
            emulator.configure(**bad)
    assert emulator.configure(hop_seconds=5) == {
        "duplicate_rate": 0,
        "reorder_rate": 0,
        "hop_seconds": 5,
    }


# ----------------------------------------------------------------------------- voiding
def test_a_voided_label_sends_no_more_tracking(
    emulator: CarrierEmulator, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    tracking = buy("ord-30.wh-london").tracking_number
    wait_for(lambda: receiver.statuses(tracking) == ["pre_transit"])
    LocalCarrier().void_label(tracking)
    LocalCarrier().void_label(tracking)  # idempotent
    clock(3 * HOP)
    time.sleep(0.4)  # several of the carrier's rounds
    assert receiver.statuses(tracking) == ["pre_transit"]
    wait_for(lambda: emulator.pending() == 0, what="the carrier to see it accepted")
    tracker = requests.get(f"{emulator.url}/v1/trackers/{tracking}", timeout=5).json()
    assert tracker["voided"] is True
    assert [e["status"] for e in tracker["events"]] == ["pre_transit"]


def test_a_label_in_transit_is_not_voided(
    emulator: CarrierEmulator, clock: Callable[[float], None]
) -> None:
    tracking = buy("ord-31.wh-london").tracking_number
    clock(HOP)
    with pytest.raises(Conflict):
        LocalCarrier().void_label(tracking)
    response = requests.post(f"{emulator.url}/v1/labels/{tracking}/void", timeout=5)
    assert response.status_code == 409


# ----------------------------------------------------------------------------- durability
def test_a_restart_keeps_labels_and_does_not_resend_accepted_events(
    tmp_path: Path,
    receiver: Receiver,
    clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = started(tmp_path, receiver)
    monkeypatch.setenv("CARRIER_API_BASE", first.url)
    label = buy("ord-40.wh-london")
    wait_for(lambda: receiver.statuses(label.tracking_number) == ["pre_transit"])
    first.stop()

    again = started(tmp_path, receiver)
    monkeypatch.setenv("CARRIER_API_BASE", again.url)
    try:
        assert buy("ord-40.wh-london").tracking_number == label.tracking_number
        time.sleep(0.4)  # several rounds: pre_transit was accepted before the stop
        assert receiver.statuses(label.tracking_number) == ["pre_transit"]
        clock(HOP)
        wait_for(lambda: receiver.statuses(label.tracking_number) == JOURNEY[:2])
    finally:
        again.stop()


KILLED_CARRIER = """
import sys, time
from pathlib import Path
from shop_local.carrier_emulator import CarrierEmulator
CarrierEmulator(int(sys.argv[1]), Path(sys.argv[2]), hop_seconds=60).start()
print("ready", flush=True)
time.sleep(120)
"""


def test_a_label_bought_survives_a_kill(
    tmp_path: Path, receiver: Receiver, clock: Callable[[float], None]
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_CARRIER, str(port), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        label = LocalCarrier(f"http://127.0.0.1:{port}").buy_label(
            "ord-41.wh-london", "wh-london", ADDRESS
        )
        LocalCarrier(f"http://127.0.0.1:{port}").void_label(
            LocalCarrier(f"http://127.0.0.1:{port}")
            .buy_label("ord-42.wh-london", "wh-london", ADDRESS)
            .tracking_number
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    again = started(tmp_path, receiver)  # its events were never accepted: they come now
    try:
        restarted = LocalCarrier(again.url)
        again_label = restarted.buy_label("ord-41.wh-london", "wh-london", ADDRESS)
        assert again_label.tracking_number == label.tracking_number
        wait_for(lambda: receiver.statuses(label.tracking_number) == ["pre_transit"])
        tracker = requests.get(f"{again.url}/v1/trackers/{label.tracking_number}", timeout=5)
        assert tracker.json()["status"] == "pre_transit"
        assert len(receiver.accepted) == 1  # the voided label stayed voided
    finally:
        again.stop()
