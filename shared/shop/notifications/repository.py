"""Notifications in DynamoDB, one item each:

    pk = USER#<user_id>  sk = NOTE#<created_at>#<notification_id>

so that a customer's notifications are one Query, newest first, and the notification of an
event has a key derived from the event: a repeat delivery finds its key taken and writes
nothing (the effect is exactly once even if the consumer dies before it records the event)."""

from __future__ import annotations

from shop.dynamo import put_new, query_all, query_page, update_if
from shop.errors import CursorMismatch
from shop.notifications.models import Notification, NotificationPage
from shop.pagination import page_cursor, start_key

_PAGE_KEYS = frozenset({"pk", "sk"})


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


class NotificationsRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def record(self, notification: Notification) -> bool:
        """False when this notification was already recorded."""
        item = notification.model_dump()
        item["pk"] = user_key(notification.user_id)
        item["sk"] = f"NOTE#{notification.created_at}#{notification.notification_id}"
        return put_new(self.table_name, item)

    def page(self, user_id: str, cursor: str | None, limit: int) -> NotificationPage:
        start = start_key(cursor, keys=_PAGE_KEYS)
        if start is not None and start["pk"]["S"] != user_key(user_id):
            raise CursorMismatch("the cursor belongs to another listing")
        items, last = query_page(
            self.table_name,
            "pk = :pk",
            {":pk": user_key(user_id)},
            newest_first=True,
            limit=limit,
            start=start,
        )
        return NotificationPage(
            items=[Notification.model_validate(item) for item in items], cursor=page_cursor(last)
        )

    def all_of(self, user_id: str) -> list[Notification]:
        """Every notification of the customer, newest first."""
        items = query_all(self.table_name, "pk = :pk", {":pk": user_key(user_id)})
        notes = [Notification.model_validate(item) for item in items]
        return sorted(notes, key=lambda n: n.created_at, reverse=True)

    def reword(self, notification: Notification, message: str) -> None:
        """Replace a notification's message (an erasure takes the customer's name out)."""
        update_if(
            self.table_name,
            {
                "pk": {"S": user_key(notification.user_id)},
                "sk": {"S": f"NOTE#{notification.created_at}#{notification.notification_id}"},
            },
            "SET message = :m",
            condition="attribute_exists(pk)",
            values={":m": message},
        )
