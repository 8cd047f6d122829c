"""A browser on the storefront's origin may call the API (CORS, as the template declares it for
API Gateway): the preflight needs no token, and every answer, the gateway's refusals too, says
which origin may read it and which headers."""

from __future__ import annotations

from helpers import Api, unique
from shop.http import CORS_EXPOSED


def test_a_preflight_is_answered_without_a_token_for_every_header_the_api_reads(
    api: Api,
) -> None:
    for path in ("/cart/items", "/products/p-anything", "/checkout"):
        preflight = api.call(
            "OPTIONS",
            path,
            headers={
                "Origin": "https://shop.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, idempotency-key",
            },
        )
        assert preflight.status_code == 200, (path, preflight.text)
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower().split(",")
        assert {"authorization", "idempotency-key", "if-none-match", "content-type"} <= set(allowed)


def test_every_answer_says_who_may_read_it_and_what_they_may_read(api: Api) -> None:
    origin = {"Origin": "https://shop.example.com"}
    read = api.get("/products?limit=1", headers=origin)
    assert read.headers["Access-Control-Allow-Origin"] == "*"
    assert read.headers["Access-Control-Expose-Headers"] == CORS_EXPOSED
    assert "ETag" in CORS_EXPOSED
    mine = api.get("/cart", user=unique("browser"), headers=origin)
    assert mine.headers["Access-Control-Allow-Origin"] == "*"
    # The gateway's own refusals: a page can show them as the shop's errors.
    refused = api.get("/cart", headers=origin)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    unknown = api.get("/no-such-route", headers=origin)
    assert unknown.status_code == 404
    assert unknown.headers["Access-Control-Allow-Origin"] == "*"
