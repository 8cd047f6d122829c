"""Driving the storefront in Debian's headless Chromium, through Playwright's Python package
(the same Node driver as npm's playwright-core, shipped in the wheel; no browser download:
`executable_path` is /usr/bin/chromium), and checking pages with axe-core.

Also what the tests do on the shop's other side, through the public API as the warehouse and
an administrator would (packing and shipping, opening a flash sale): not the storefront's job."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from axe_playwright_python.sync_playwright import Axe
from demo_support import available_now, shop_token
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from shop_local.demo import demo_stock
from shop_local.platform import control_headers

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-14's CSS pixels
ADDRESS = {
    "name": "Dee Mo",
    "line1": "2 Market Street",
    "city": "Manchester",
    "postal_code": "M1 1AA",
}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Impacts that fail a page (minor and moderate ones do not).
FAILING_IMPACTS = {"serious", "critical"}
AXE = Axe()  # axe-core's axe.min.js, pinned by the axe-playwright-python wheel


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Storefront:
    """One shopper's browser tab on the storefront."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.context, self.url = context, url
        self.page: Page = context.new_page()
        self.page.set_default_timeout(20_000)
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def open(self, hash_route: str = "#/") -> Page:
        target = f"{self.url}/{hash_route}"
        if self.page.url == target:
            self.page.reload()  # the same address again would not show the page anew
        else:
            self.page.goto(target)
        self.wait_until_shown(hash_route)
        return self.page

    def wait_until_shown(self, hash_route: str) -> None:
        """Until the route's page has its data in (the storefront marks main then)."""
        self.page.wait_for_function(
            "route => document.getElementById('main').dataset.route === route", arg=hash_route
        )

    def sign_in(self, username: str) -> None:
        """From any page, through the sign-in page, and back to that page."""
        page = self.page
        account = page.locator("#account")
        account.get_by_role("link", name="Sign in").click()
        # The link goes to #/sign-in?next=...: fill the form that route renders, not the one
        # of the page before it (from the sign-in page itself, a slow re-render emptied it).
        page.wait_for_function(
            "() => window.location.hash.startsWith('#/sign-in?next=')"
            " && document.getElementById('main').dataset.route === window.location.hash"
        )
        page.get_by_label("Username").fill(username)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_have_text(username)
        expect(page).not_to_have_url(re.compile(r"#/sign-in"))
        main = page.locator("main[data-route]")
        expect(main).not_to_have_attribute("data-route", re.compile(r"^#/sign-in"))

    def add_to_cart(self, product_id: str, quantity: int = 1) -> None:
        page = self.page
        self.open(f"#/product/{product_id}")
        page.get_by_label("Quantity", exact=True).fill(str(quantity))
        page.get_by_role("button", name="Add to cart").click()
        expect(page.locator("#added")).to_contain_text("Added to your cart")

    def check_out(self, card: str) -> Page:
        """From the cart page to the checkout's result page (not waited for)."""
        page = self.page
        self.open("#/cart")
        page.get_by_role("link", name="Check out").click()
        return self.fill_checkout(card)

    def fill_checkout(self, card: str) -> Page:
        page = self.page
        expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
        page.get_by_label("Full name").fill(ADDRESS["name"])
        page.get_by_label("Address").fill(ADDRESS["line1"])
        page.get_by_label("Town or city").fill(ADDRESS["city"])
        page.get_by_label("Postcode").fill(ADDRESS["postal_code"])
        page.get_by_label(card).check()
        page.get_by_role("button", name="Place order").click()
        return page

    def placed_order_id(self) -> str:
        status = self.page.locator("#checkout-status.ok")
        expect(status).to_contain_text("Order ord-", timeout=60_000)
        return status.inner_text().split("Order ", 1)[1].split(",", 1)[0]

    def token(self) -> str:
        """The signed-in shopper's ID token, as the storefront keeps it."""
        return str(self.page.evaluate("localStorage.getItem('shop.id_token')"))

    def own(self, path: str) -> Any:
        """GET of one of the shopper's own resources, with their token (for what a test
        waits on behind the page)."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = requests.get(self.url + path, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def shot(self, name: str) -> None:
        """A screenshot for the README, when asked for (`make screenshots`)."""
        if os.environ.get("SHOP_STOREFRONT_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (every rule
    axe runs by default, WCAG 2.x A and AA included; none excluded)."""
    results = AXE.run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in violations
        if v["impact"] in FAILING_IMPACTS
    ]


class Backoffice:
    """The warehouse and the administrator, through the public API."""

    def __init__(self, url: str, state: Path) -> None:
        self.url, self.state = url, state
        self.headers = {"Authorization": f"Bearer {shop_token(state, 'back-office', admin=True)}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def pack_and_ship(self, shipment_id: str) -> None:
        self.call("POST", f"/admin/shipments/{shipment_id}/pack")
        self.call("POST", f"/admin/shipments/{shipment_id}/ship")

    def fast_carrier(self) -> None:
        """Hops of half a second, none held back: a reordered hop arrives stale and is
        rightly dropped, so the timeline a shopper sees would miss it at random (the
        misbehaving carrier has tests of its own: test_fulfillment_faults and
        test_carrier_emulator)."""
        self.control("/_local/carrier", {"hop_seconds": 0.5, "reorder_rate": 0.0})

    def control(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(
            self.url + path, json=body, headers=control_headers(self.state), timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()

    def open_flash_sale(self, sku: str, units: int, price: int = 199) -> str:
        now = datetime.now(UTC)
        sale = self.call(
            "POST",
            "/admin/flash-sales",
            json={
                "sku": sku,
                "quantity": units,
                "price": {"amount": price, "currency": "GBP"},
                "starts_at": (now - timedelta(seconds=5)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "per_customer_limit": 1,
                "hold_seconds": 600,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        return str(sale["sale_id"])

    @contextmanager
    def broken(self, *dependencies: str) -> Iterator[None]:
        """Dependencies down in the served platform (its fault controls), repaired after."""
        try:
            for dependency in dependencies:
                self.control("/_local/faults", {"dependency": dependency, "mode": "down"})
            yield
        finally:
            self.control("/_local/faults", {"clear": True})


def stocked_products(url: str, *, warehouses: int | None = None, count: int = 1) -> list[str]:
    """Demo products of one SKU with 15 or more in stock now (kept in `warehouses`
    warehouses, if given)."""
    found: list[str] = []
    cursor = None
    while len(found) < count:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{url}/products", params=params, timeout=30).json()
        for product in page["items"]:
            variants = product["variants"]
            if len(variants) != 1:
                continue
            sku = variants[0]["sku"]
            levels = {w: q for _, w, q in demo_stock(sku)}
            if not levels or (warehouses is not None and len(levels) != warehouses):
                continue
            # Stock now, not as loaded: earlier runs on a kept demo shop may have sold some.
            available = available_now(url, sku)
            if available is None or available < 15:
                continue
            found.append(product["product_id"])
            if len(found) == count:
                break
        cursor = page["cursor"]
        assert cursor or len(found) == count, "the demo has enough stocked products"
    return found


def product(url: str, product_id: str) -> dict[str, Any]:
    response = requests.get(f"{url}/products/{product_id}", timeout=30)
    assert response.status_code == 200, response.text
    return dict(json.loads(response.text))
