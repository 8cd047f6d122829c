"""What the payment webhook answers Stripe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class WebhookOutcome(BaseModel):
    """Whether the event moved a checkout on; a replay or another system's event is ignored."""

    model_config = ConfigDict(extra="forbid")

    handled: bool
    reason: Literal["replay", "not ours"] | None = None  # why an event was not applied
