"""A customer's notifications, as they see them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NotificationKind = Literal["order_confirmation", "order_cancellation"]


class Notification(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    notification_id: str  # the event's id: one notification per event, however often delivered
    user_id: str
    kind: NotificationKind
    order_id: str
    subject: str
    message: str
    created_at: str  # when the event happened, which orders the list


class NotificationPage(BaseModel):
    items: list[Notification]
    cursor: str | None


class ListNotificationsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
