"""A carrier's tracking webhook is authenticated by its signature only, and tracking statuses
have an order consumers move forward along."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop import config
from shop.clock import iso_now, now
from shop.errors import InvalidWebhook
from shop.fulfillment.carriers import (
    SIGNATURE_HEADER,
    LocalCarrier,
    TrackingStatus,
    carrier_named,
    signature_header,
    tracking_rank,
)

SECRET = "carrier_whsec_test"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret as the template names it; its SSM read replaced by the value."""
    monkeypatch.setenv("CARRIER_WEBHOOK_SECRET_PARAMETER", "/shop/carriers/webhook-secret")
    values = {"CARRIER_WEBHOOK_SECRET_PARAMETER": SECRET}
    monkeypatch.setattr(config, "secret", lambda variable: values[variable])


def event_body(**changes: Any) -> bytes:
    event = {
        "id": "evt_LC000000000001_in_transit",
        "type": "tracker.updated",
        "tracking_number": "LC000000000001",
        "status": "in_transit",
        "occurred_at": iso_now(),
        "detail": "picked up at wh-london",
        **changes,
    }
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature_header(body, secret, now() if at is None else at)}


def test_a_signed_webhook_becomes_a_tracking_update() -> None:
    body = event_body()
    update = LocalCarrier().parse_webhook(body, signed(body))
    assert update.event_id == "evt_LC000000000001_in_transit"
    assert update.carrier == "local"
    assert update.tracking_number == "LC000000000001"
    assert update.status == "in_transit"
    assert update.detail == "picked up at wh-london"


def test_the_signature_header_is_found_whatever_its_case() -> None:
    body = event_body()
    headers = {k.lower(): v for k, v in signed(body).items()}  # as shop.http passes them
    assert LocalCarrier().parse_webhook(body, headers).status == "in_transit"


def test_a_body_changed_after_signing_is_refused() -> None:
    headers = signed(event_body(status="in_transit"))
    with pytest.raises(InvalidWebhook, match="does not match"):
        LocalCarrier().parse_webhook(event_body(status="delivered"), headers)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body = event_body()
    with pytest.raises(InvalidWebhook, match="does not match"):
        LocalCarrier().parse_webhook(body, signed(body, secret="someone_elses"))


@pytest.mark.parametrize("age_seconds", [301, -301])
def test_a_signature_more_than_five_minutes_from_now_is_refused(age_seconds: int) -> None:
    body = event_body()
    with pytest.raises(InvalidWebhook, match="tolerance"):
        LocalCarrier().parse_webhook(body, signed(body, at=now() - age_seconds))


def test_a_signature_a_little_old_is_accepted() -> None:
    body = event_body()
    assert LocalCarrier().parse_webhook(body, signed(body, at=now() - 200)).status


def test_the_tolerance_is_measured_on_the_platforms_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    body = event_body()
    monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", str(3 * 24 * 3600))  # a test moved time
    headers = signed(body, at=now())
    assert LocalCarrier().parse_webhook(body, headers).status
    monkeypatch.setenv("SHOP_CLOCK_OFFSET_SECONDS", "0")  # back: that signature is days ahead
    with pytest.raises(InvalidWebhook, match="tolerance"):
        LocalCarrier().parse_webhook(body, headers)


def test_a_webhook_without_a_signature_is_refused() -> None:
    with pytest.raises(InvalidWebhook, match="missing"):
        LocalCarrier().parse_webhook(event_body(), {"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "header",
    ["v1=abc", "t=,v1=abc", "t=12ab,v1=abc", "t=1,t=2,v1=abc", "t=1700000000", "garbage"],
)
def test_a_malformed_signature_header_is_refused(header: str) -> None:
    with pytest.raises(InvalidWebhook):
        LocalCarrier().parse_webhook(event_body(), {SIGNATURE_HEADER: header})


def test_any_of_several_signatures_may_match_while_a_secret_rotates() -> None:
    body = event_body()
    t, good = signed(body)[SIGNATURE_HEADER].split(",")
    headers = {SIGNATURE_HEADER: f"{t},v1={'0' * 64},{good}"}
    assert LocalCarrier().parse_webhook(body, headers).status == "in_transit"


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'"tracker"'])
def test_a_signed_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhook, match="not a tracker event"):
        LocalCarrier().parse_webhook(body, signed(body))


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "lost_in_space"},
        {"status": None},
        {"type": "invoice.paid"},
        {"occurred_at": "yesterday"},
        {"id": ""},
        {"tracking_number": 12},
    ],
)
def test_a_signed_event_that_is_not_a_tracking_update_is_refused(changes: dict[str, Any]) -> None:
    body = event_body(**changes)
    with pytest.raises(InvalidWebhook, match="not a tracker event") as raised:
        LocalCarrier().parse_webhook(body, signed(body))
    assert "lost_in_space" not in json.dumps(raised.value.details)  # where, never what


def test_a_body_without_the_optional_detail_is_accepted() -> None:
    event = json.loads(event_body())
    del event["detail"]
    body = json.dumps(event).encode()
    assert LocalCarrier().parse_webhook(body, signed(body)).detail == ""


def test_tracking_statuses_rank_in_the_order_a_parcel_moves() -> None:
    journey: list[TrackingStatus] = ["pre_transit", "in_transit", "out_for_delivery", "delivered"]
    ranks = [tracking_rank(status) for status in journey]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


def test_a_failure_is_as_final_as_a_delivery() -> None:
    assert tracking_rank("failure") == tracking_rank("delivered")
    assert tracking_rank("failure") > tracking_rank("out_for_delivery")


def test_carriers_are_found_by_name_and_an_unknown_one_is_a_lookup_error() -> None:
    assert carrier_named("local").name == "local"
    with pytest.raises(LookupError):
        carrier_named("pigeon-post")
