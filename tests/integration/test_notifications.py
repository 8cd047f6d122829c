"""GET /notifications: a customer's own notifications, newest first, paginated; bad input 4xx."""

from __future__ import annotations

from event_support import eventually, notifications, order_event, put_on_bus

from helpers import Api, assert_error, unique
from shop_local.auth import user_id
from shop_local.platform import LocalPlatform


def test_notifications_page_newest_first_and_only_the_callers(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("buyer")
    for minute in range(3):
        detail = order_event("OrderPlaced", user)
        put_on_bus(platform, {**detail, "occurred_at": f"2026-12-01T10:0{minute}:00.000Z"})
    eventually(lambda: len(notifications(api, user)) == 3)

    first = api.get("/notifications?limit=2", user=user).json()
    assert [n["created_at"][11:16] for n in first["items"]] == ["10:02", "10:01"]
    assert all(n["user_id"] == user_id(user) for n in first["items"])
    second = api.get(f"/notifications?limit=2&cursor={first['cursor']}", user=user).json()
    assert [n["created_at"][11:16] for n in second["items"]] == ["10:00"]
    assert second["cursor"] is None
    # Another customer's cursor does not open this customer's notifications.
    assert_error(
        api.get(f"/notifications?cursor={first['cursor']}", user=unique("other")), 409, "BAD_CURSOR"
    )


def test_notifications_refuse_bad_input_clearly(api: Api) -> None:
    assert_error(api.get("/notifications"), 401)
    assert_error(api.get("/notifications?limit=0", user="u"), 422, "VALIDATION_FAILED")
    assert_error(api.get("/notifications?limit=x", user="u"), 422, "VALIDATION_FAILED")
    assert_error(api.get("/notifications?cursor=forged", user="u"), 400)
