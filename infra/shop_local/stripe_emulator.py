"""localstripe, the Stripe API emulator, served from a thread of this process.

In process (rather than as a subprocess) so that the platform can teach it the Stripe test
payment methods it lacks: Stripe documents `pm_card_chargeDeclined` and
`pm_card_authenticationRequired`, localstripe knows neither. Each maps to the test card Stripe
uses for it. Nothing else of localstripe is changed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web
from localstripe import resources
from localstripe.server import app

# Stripe's documented test PaymentMethod ids -> a card number localstripe treats the same way
# (localstripe declines charges on ...0341, where Stripe uses ...0002 for this id).
EXTRA_TEST_METHODS = {
    "pm_card_chargeDeclined": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
}

_original_canonical = resources.PaymentMethod._try_get_canonical_test_article.__func__


def _canonical_test_article(cls: Any, id: str) -> Any:
    card_number = EXTRA_TEST_METHODS.get(id)
    if card_number is not None:
        return resources.PaymentMethod(
            type="card",
            card={"number": card_number, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
        )
    return _original_canonical(cls, id)


class StripeEmulator:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localstripe", daemon=True)

    def start(self) -> StripeEmulator:
        resources.PaymentMethod._try_get_canonical_test_article = classmethod(
            _canonical_test_article
        )
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
