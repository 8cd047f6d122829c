"""GET /notifications?cursor=&limit=: the caller's notifications, newest first."""

from shop.errors import BadRequest, CursorMismatch
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.notifications.models import ListNotificationsQuery, NotificationPage
from shop.notifications.service import list_notifications


@api_handler(
    "notifications",
    query=ListNotificationsQuery,
    responses={200: NotificationPage},
    errors=[BadRequest, CursorMismatch],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    page = list_notifications(caller.user_id, request.query_params(ListNotificationsQuery))
    return ApiResponse(200, page.model_dump())
