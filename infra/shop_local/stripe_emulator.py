"""localstripe, the Stripe API emulator, served from a thread of this process.

In process (rather than as a subprocess) so that the platform can fill two gaps where
localstripe differs from Stripe, each in one small patch here:
- the test payment methods Stripe documents and localstripe lacks (`pm_card_chargeDeclined`,
  `pm_card_authenticationRequired`) map to the test card localstripe treats the same way;
- when a customer completes 3-D Secure on a manual-capture intent, Stripe sends
  `payment_intent.amount_capturable_updated` (or `payment_intent.payment_failed`); localstripe
  sends nothing until capture, so the patch sends what Stripe would.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web
from localstripe import resources

# Stripe's documented test PaymentMethod ids -> a card number localstripe treats the same way
# (localstripe declines charges on ...0341, where Stripe uses ...0002 for this id).
EXTRA_TEST_METHODS = {
    "pm_card_chargeDeclined": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
}

_original_canonical = resources.PaymentMethod._try_get_canonical_test_article.__func__


def _canonical_test_article(cls: Any, /, id: str) -> Any:
    card_number = EXTRA_TEST_METHODS.get(id)
    if card_number is not None:
        return resources.PaymentMethod(
            type="card",
            card={"number": card_number, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
        )
    return _original_canonical(cls, id)


_original_authenticate = resources.PaymentIntent._api_authenticate.__func__


def _authenticate(cls: Any, /, id: str, **kwargs: Any) -> Any:
    from localstripe.webhooks import schedule_webhook

    intent = _original_authenticate(cls, id, **kwargs)
    if intent.status == "requires_capture":
        schedule_webhook(resources.Event("payment_intent.amount_capturable_updated", intent))
    elif intent.status == "requires_payment_method":
        schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
    return intent


def _patch() -> None:
    """Install both patches. localstripe's server binds its routes to these functions when it
    is imported, so this runs before that import."""
    resources.PaymentMethod._try_get_canonical_test_article = classmethod(_canonical_test_article)
    resources.PaymentIntent._api_authenticate = classmethod(_authenticate)
    for i, (method, url, _) in enumerate(resources.extra_apis):
        if url == "/v1/payment_intents/{id}/_authenticate":
            resources.extra_apis[i] = (method, url, resources.PaymentIntent._api_authenticate)


_patch()
from localstripe.server import app  # noqa: E402  (after the patches, see _patch)


class StripeEmulator:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localstripe", daemon=True)

    def start(self) -> StripeEmulator:
        resources.store.clear()  # a clean start, whatever a previous run left in this process
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("localstripe did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._started.set()
        self._loop.run_forever()

    def register_webhook(self, name: str, url: str, secret: str) -> None:
        """Have localstripe sign and send its events to `url`, as Stripe would."""
        from localstripe.webhooks import register_webhook

        register_webhook(name, url, secret, None)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
