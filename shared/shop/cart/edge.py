"""Whose cart a request means: the signed-in user's on /cart routes, the guest's whose token
is in `X-Cart-Token` on /guest-cart routes. One function serves both routes of an operation."""

from __future__ import annotations

from shop.cart.service import guest_owner, user_owner
from shop.errors import BadRequest
from shop.http import ApiRequest, Caller, Header

CART_TOKEN_HEADER = "X-Cart-Token"
# For the API document: the /guest-cart variant of each cart operation needs the token.
GUEST_CART_TOKEN = Header(
    CART_TOKEN_HEADER, "the guest cart's token, from POST /guest-cart", public_routes_only=True
)


def cart_owner(request: ApiRequest) -> tuple[str, Caller]:
    """The cart's owner key, and who to count idempotency keys against."""
    if request.resource.startswith("/guest-cart"):
        token = request.header(CART_TOKEN_HEADER)
        if not token or len(token) > 200:
            raise BadRequest(f"guest carts need the {CART_TOKEN_HEADER} header")
        owner = guest_owner(token)
        return owner, Caller(user_id=owner, groups=frozenset())
    caller = request.caller()
    return user_owner(caller.user_id), caller
