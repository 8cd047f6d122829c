"""Carriers: who buys a shipment's label and reports its tracking back.

Every carrier is an adapter behind one small interface (`Carrier`): buy a label (idempotent on
the shipment, so a retried `ship` buys nothing twice), void it, and turn the carrier's signed
tracking webhook into a `TrackingUpdate`. The webhook's signature is its only authentication.
Tracking speaks the EasyPost/Shippo vocabulary; `tracking_rank` orders it, so that consumers
accept only forward moves (carriers send duplicates, and send events late and out of order).

`LocalCarrier` ("local") talks to the carrier emulator of the local platform
(shop_local.carrier_emulator) at `CARRIER_API_BASE`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import requests
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from shop import config
from shop.clock import now
from shop.errors import DependencyUnavailable, InvalidWebhook, LabelNotVoidable, ShopError

if TYPE_CHECKING:  # only in signatures: no import of the orders package at run time
    from shop.orders.models import ShippingAddress

TrackingStatus = Literal["pre_transit", "in_transit", "out_for_delivery", "delivered", "failure"]
_RANKS: dict[str, int] = {
    "pre_transit": 1,
    "in_transit": 2,
    "out_for_delivery": 3,
    "delivered": 4,
    "failure": 4,  # as final as delivered: neither replaces the other
}

SIGNATURE_HEADER = "Carrier-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # a replayed webhook older than this is refused
WEBHOOK_SECRET_PARAMETER = "CARRIER_WEBHOOK_SECRET_PARAMETER"
API_BASE_SETTING = "CARRIER_API_BASE"
# Short: a label is bought inside a request; the caller's retry is safe (idempotent).
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"  # as shop.clock.iso_at writes


class Label(BaseModel):
    carrier: str
    tracking_number: str
    label_url: str


class TrackingUpdate(BaseModel):
    event_id: str  # the carrier's: a duplicate delivery has the same
    carrier: str
    tracking_number: str
    status: TrackingStatus
    occurred_at: str  # ISO-8601 UTC, as shop.clock.iso_at
    detail: str = ""


class Carrier(Protocol):
    name: str

    def buy_label(self, shipment_id: str, warehouse_id: str, address: ShippingAddress) -> Label:
        """The shipment's label; the same shipment again gets the same label."""
        ...

    def void_label(self, tracking_number: str) -> None:
        """Idempotent; a voided label sends no more tracking."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> TrackingUpdate:
        """The update a webhook carries, once its signature verifies (InvalidWebhook if not)."""
        ...


def tracking_rank(status: TrackingStatus) -> int:
    """Higher is further along: apply an update only if it ranks above what is known."""
    return _RANKS[status]


# ----------------------------------------------------------------------------- signatures
def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, at: float) -> str:
    """The `Carrier-Signature` value a carrier sends with `body` at `at` (epoch seconds)."""
    timestamp = int(at)
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(body: bytes, header: str | None, secret: str) -> None:
    """InvalidWebhook unless `header` signs exactly `body` with `secret`, within
    SIGNATURE_TOLERANCE_SECONDS of the platform's clock (an old capture replayed is refused)."""
    if not header:
        raise InvalidWebhook(f"the {SIGNATURE_HEADER} header is missing")
    timestamps, signatures = [], []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":  # more than one while a carrier rotates its secret
            signatures.append(value)
    if len(timestamps) != 1 or not re.fullmatch(r"\d{1,12}", timestamps[0]) or not signatures:
        raise InvalidWebhook(f"the {SIGNATURE_HEADER} header is malformed")
    timestamp = int(timestamps[0])
    if abs(now() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidWebhook("the webhook's signature timestamp is outside the tolerance")
    expected = _digest(secret, timestamp, body).encode()
    # Every candidate compared, in constant time each: no early exit on a match.
    matched = [hmac.compare_digest(expected, offered.encode()) for offered in signatures]
    if not any(matched):
        raise InvalidWebhook("the webhook's signature does not match its body")


class _TrackerEvent(BaseModel):
    """A tracking webhook's body, as the carrier sends it."""

    model_config = ConfigDict(strict=True, extra="ignore")

    id: Annotated[str, StringConstraints(pattern=r"^evt_[A-Za-z0-9_-]{1,200}$")]
    type: Literal["tracker.updated"]
    tracking_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    status: TrackingStatus
    occurred_at: Annotated[str, StringConstraints(pattern=ISO_MOMENT)]
    detail: Annotated[str, StringConstraints(max_length=1000)] = ""


def parse_tracker_event(carrier: str, body: bytes) -> TrackingUpdate:
    """A verified body as a TrackingUpdate (InvalidWebhook: not JSON, or not a tracker event)."""
    try:
        event = _TrackerEvent.model_validate_json(body)
    except ValidationError as error:
        # Where and what, never the body's values.
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise InvalidWebhook(
            "the webhook's body is not a tracker event", details={"problems": problems}
        ) from None
    return TrackingUpdate(
        event_id=event.id,
        carrier=carrier,
        tracking_number=event.tracking_number,
        status=event.status,
        occurred_at=event.occurred_at,
        detail=event.detail,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (API Gateway passes them as the client sent them)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


# ----------------------------------------------------------------------------- local carrier
class LocalCarrier:
    """The local platform's carrier emulator, over HTTP."""

    name = "local"

    def __init__(self, api_base: str | None = None) -> None:
        self._api_base = api_base  # None: CARRIER_API_BASE, read at each call

    def buy_label(self, shipment_id: str, warehouse_id: str, address: ShippingAddress) -> Label:
        response = self._call(
            "POST",
            "/v1/labels",
            {
                "shipment_id": shipment_id,
                "warehouse_id": warehouse_id,
                "address": address.model_dump(),
            },
        )
        if response.status_code not in (200, 201):
            raise ShopError(f"the {self.name} carrier refused the label: {_message(response)}")
        try:
            return Label.model_validate(response.json())
        except (ValueError, ValidationError):
            raise ShopError(f"the {self.name} carrier answered a label we cannot read") from None

    def void_label(self, tracking_number: str) -> None:
        response = self._call("POST", f"/v1/labels/{tracking_number}/void")
        if response.status_code == 200:
            return
        if response.status_code == 409:  # the parcel is moving: too late to void
            raise LabelNotVoidable(
                f"the {self.name} carrier cannot void {tracking_number}: {_message(response)}"
            )
        raise ShopError(
            f"the {self.name} carrier refused to void {tracking_number}: {_message(response)}"
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> TrackingUpdate:
        verify_signature(body, _header(headers, SIGNATURE_HEADER), webhook_secret())
        return parse_tracker_event(self.name, body)

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        base = self._api_base or config.setting(API_BASE_SETTING)
        try:
            response = requests.request(
                method,
                base.rstrip("/") + path,
                json=body,
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise DependencyUnavailable(
                f"the {self.name} carrier did not answer: {error}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DependencyUnavailable(
                f"the {self.name} carrier answered {response.status_code}; retry"
            )
        return response


def webhook_secret() -> str:
    """The secret carriers sign their webhooks with (SSM, named by the template)."""
    return config.secret(WEBHOOK_SECRET_PARAMETER)


def _message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


# ----------------------------------------------------------------------------- registry
_CARRIERS: dict[str, Callable[[], Carrier]] = {"local": LocalCarrier}


def carrier_named(name: str) -> Carrier:
    """The carrier configured under `name` (LookupError: none is)."""
    try:
        make = _CARRIERS[name]
    except KeyError:
        raise LookupError(f"no carrier {name!r}") from None
    return make()
