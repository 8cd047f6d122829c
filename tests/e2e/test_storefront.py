"""The storefront as a shopper uses it: Debian's headless Chromium on the demo shop that
`make run` serves (the session's `demo_shop`), real clicks and typing, nothing of ours mocked.
One test per journey of issue #13, and axe-core on every page.

Where a journey needs the shop's other side (the warehouse ships, an administrator opens a
flash sale), the test does that through the public API, as those people would. Degradation
is caused with the served platform's fault control (`POST /_local/faults`, behind its secret).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from demo_support import until
from playwright.sync_api import Browser, Locator, Playwright, expect, sync_playwright
from storefront_support import (
    DESKTOP,
    PHONE,
    Backoffice,
    Storefront,
    axe_violations,
    launch,
    product,
    stocked_products,
    unique,
)

from shop_local.demo import demo_stock

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def shop(browser: Browser, demo_shop: tuple[str, Path]) -> Iterator[Storefront]:
    """A new shopper: a fresh browser profile (no token, no guest cart) at desktop size."""
    context = browser.new_context(viewport=DESKTOP)
    storefront = Storefront(context, demo_shop[0])
    yield storefront
    context.close()
    assert storefront.console_errors == []


@pytest.fixture
def backoffice(demo_shop: tuple[str, Path]) -> Backoffice:
    return Backoffice(*demo_shop)


def test_make_run_serves_the_storefront_and_only_its_files(demo_shop: tuple[str, Path]) -> None:
    url, state = demo_shop
    assert f"shop: storefront on {url}/" in (state / "serve.log").read_text()
    home = requests.get(f"{url}/", timeout=10)
    assert home.status_code == 200
    assert home.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/js/app.js">' in home.text
    script = requests.get(f"{url}/js/app.js", timeout=10)
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert (
        requests.get(f"{url}/styles.css", timeout=10).headers["Content-Type"].startswith("text/css")
    )
    # The API keeps its routes: no asset answers for them.
    assert "items" in requests.get(f"{url}/products?limit=1", timeout=10).json()
    for outside in (
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/js/%2e%2e/%2e%2e/template.yaml",
        "/..%2f..%2ftemplate.yaml",
        "/.git/config",
        "/js/../../README.md",
        "/%00index.html",
    ):
        refused = requests.get(f"{url}{outside}", timeout=10)
        assert refused.status_code == 404, (outside, refused.text[:200])
        assert refused.headers["Content-Type"] == "application/json"


def test_local_sign_in_issues_a_shoppers_token_and_refuses_bad_bodies(
    demo_shop: tuple[str, Path],
) -> None:
    url, _ = demo_shop
    signed = requests.post(f"{url}/_local/sign-in", json={"username": "ann"}, timeout=10)
    assert signed.status_code == 200, signed.text
    token = signed.json()["id_token"]
    cart = requests.get(f"{url}/cart", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert cart.status_code == 200
    admin = requests.get(
        f"{url}/admin/shipments?warehouse_id=wh-london",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert admin.status_code == 403  # a shopper, never an administrator
    for body, status in (
        (b"not json", 400),
        (b"[]", 400),
        (b'{"username": "ann", "admin": true}', 400),
        (b'{"username": ""}', 422),
        (b'{"username": "../etc"}', 422),
        (b'{"username": 7}', 422),
        (('{"username": "' + "a" * 65 + '"}').encode(), 422),
    ):
        refused = requests.post(f"{url}/_local/sign-in", data=body, timeout=10)
        assert refused.status_code == status, (body, refused.text)
        assert refused.json()["error"]["code"] in ("BAD_REQUEST", "VALIDATION_FAILED")


def test_a_shopper_browses_a_category_and_its_products(shop: Storefront) -> None:
    page = shop.open("#/")
    categories = page.get_by_role("region", name="Browse by category").get_by_role("link")
    expect(categories.first).to_be_visible()
    shop.shot("home")
    chosen = categories.nth(1)
    name = re.sub(r" \(\d+\)$", "", chosen.inner_text())
    chosen.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    cards = page.locator("main .grid .card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 2
    first = cards.first.get_by_role("link")
    title = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    # The breadcrumb leads back to the category.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_a_product_shows_its_variants_price_availability_and_what_is_bought_with_it(
    shop: Storefront, demo_shop: tuple[str, Path]
) -> None:
    url, _ = demo_shop
    with_variants = next(
        p
        for p in requests.get(f"{url}/products", params={"limit": 100}, timeout=30).json()["items"]
        if len(p["variants"]) > 1 and len({v["price"]["amount"] for v in p["variants"]}) > 1
    )
    page = shop.open(f"#/product/{with_variants['product_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(with_variants["name"])
    first, second = with_variants["variants"][:2]
    price = page.locator("#price")
    expect(price).to_have_text(money(first["price"]))
    expect(page.locator("#availability")).to_have_text(re.compile(r"In stock \(\d+ available\)"))
    options = page.get_by_role("group", name="Option").get_by_role("radio")
    assert options.count() == len(with_variants["variants"])
    options.nth(1).check()
    expect(price).to_have_text(money(second["price"]))
    together = page.locator("#together-list .card")
    expect(together.first).to_be_visible()
    assert together.count() == 4
    shop.shot("product")


def test_a_shopper_searches_with_a_typo_picks_a_suggestion_and_filters_by_facets(
    shop: Storefront,
) -> None:
    page = shop.open("#/")
    box = page.get_by_role("combobox", name="Search products")
    box.press_sequentially("christm", delay=40)  # as they type: suggestions
    suggestions = page.get_by_role("listbox", name="Suggestions").get_by_role("option")
    expect(suggestions.first).to_be_visible()
    assert "christmas" in suggestions.first.inner_text().lower()
    box.press("ArrowDown")
    expect(suggestions.first).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    box.fill("chrsitmas tree")  # a typo: still found
    box.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “chrsitmas tree”")
    results = page.locator("#results .card")
    expect(results.first).to_be_visible()
    assert "christmas" in results.first.inner_text().lower()
    total = int(page.locator("#result-count").inner_text().split()[0])
    shop.shot("search")
    # A category facet narrows the results, to that category only.
    facet = page.get_by_role("group", name="Category").get_by_role("link").first
    facet_name, facet_count = re.fullmatch(r"(.+) \((\d+)\)", facet.inner_text()).groups()  # type: ignore[union-attr]
    facet.click()
    expect(page.locator("#result-count")).to_have_text(re.compile(rf"^{facet_count} product"))
    assert int(facet_count) <= total
    for card in page.locator("#results .card").all():
        expect(card).to_contain_text(facet_name)
    page.get_by_label("In stock only").check()
    expect(page).to_have_url(re.compile(r"in_stock=true"))
    expect(page.get_by_role("link", name="All categories")).to_be_visible()


def test_a_guest_fills_a_cart_signs_in_and_keeps_it(
    browser: Browser, demo_shop: tuple[str, Path]
) -> None:
    url, _ = demo_shop
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    shop = Storefront(context, url)
    first, second = stocked_products(url, count=2)
    shop.add_to_cart(first, 2)
    shop.add_to_cart(second, 1)
    page = shop.open("#/cart")
    expect(page.locator("#cart-count")).to_have_text("3")
    expect(page.locator("#cart-lines tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="Sign in to check out")).to_be_visible()
    shop.shot("cart-phone")
    # The page fits the phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("link", name="Sign in to check out").click()
    page.get_by_label("Username").fill(unique("guest"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.locator("#cart-count")).to_have_text("3")  # the guest's lines are theirs now
    page = shop.open("#/cart")
    expect(page.locator("#cart-lines tbody tr")).to_have_count(2)
    quantity = page.get_by_label(f"Quantity of {product(url, first)['name']}")
    expect(quantity).to_have_value("2")
    # A reload keeps it: the merge happened once, on the shopper's own cart.
    page.reload()
    expect(page.locator("#cart-count")).to_have_text("3")
    context.close()
    assert shop.console_errors == []


def signed_in_shopper(shop: Storefront, url: str, name: str) -> str:
    """A new shopper signed in from the home page; a product they may buy."""
    (item,) = stocked_products(url)
    shop.open("#/")
    shop.sign_in(unique(name))
    return str(item)


def test_a_shopper_pays_with_a_test_card_and_a_declined_card_is_told_so(
    shop: Storefront, demo_shop: tuple[str, Path]
) -> None:
    item = signed_in_shopper(shop, demo_shop[0], "payer")
    shop.add_to_cart(item)
    page = shop.check_out("Visa ending 0002 (declined)")
    failed = page.locator("#checkout-status.error")
    expect(failed).to_have_text("Your card was declined.", timeout=60_000)
    shop.shot("checkout-declined")
    page.get_by_role("link", name="Back to your cart").click()
    expect(page.locator("#cart-lines tbody tr")).to_have_count(1)  # nothing was taken
    shop.check_out("Visa ending 4242 (succeeds)")
    order_id = shop.placed_order_id()
    shop.shot("checkout-placed")
    expect(page.locator("#cart-count")).to_have_text("0")
    page.get_by_role("link", name="Track your order").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(order_id)


def test_a_shopper_confirms_3d_secure_and_the_order_is_placed(
    shop: Storefront, demo_shop: tuple[str, Path]
) -> None:
    item = signed_in_shopper(shop, demo_shop[0], "secure")

    def bank_asks() -> Locator:
        shop.add_to_cart(item)
        page = shop.check_out("Visa ending 3184 (asks for 3-D Secure)")
        dialog: Locator = page.get_by_role("dialog", name="Confirm it is you")
        expect(dialog).to_be_visible(timeout=60_000)
        expect(page.locator("#checkout-status")).to_have_text(
            "Your bank asks you to confirm the payment…"
        )
        return dialog

    dialog = bank_asks()
    shop.shot("checkout-3d-secure")
    dialog.get_by_role("button", name="Approve payment").click()
    shop.placed_order_id()
    # Refusing the bank's check fails the order, and says so.
    bank_asks().get_by_role("button", name="Refuse").click()
    expect(shop.page.locator("#checkout-status.error")).to_have_text(
        "Your card was declined.", timeout=60_000
    )


def test_a_shopper_tracks_shipments_cancels_and_requests_a_return(
    shop: Storefront, backoffice: Backoffice, demo_shop: tuple[str, Path]
) -> None:
    url, _ = demo_shop
    backoffice.fast_carrier()
    kept, cancelled = stocked_products(url, warehouses=1, count=2)
    shop.open("#/")
    shop.sign_in(unique("tracker"))
    shop.add_to_cart(kept)
    shop.check_out("Visa ending 4242 (succeeds)")
    delivered_order = shop.placed_order_id()
    shop.add_to_cart(cancelled)
    shop.check_out("Visa ending 4242 (succeeds)")
    cancelled_order = shop.placed_order_id()

    # The second order has not shipped: the shopper cancels it.
    page = shop.open(f"#/orders/{cancelled_order}")
    cancel = page.get_by_role("button", name="Cancel what has not shipped")
    until(lambda: shop.open(f"#/orders/{cancelled_order}") and cancel.is_visible(), "planned")
    cancel.click()
    expect(page.locator("#cancellations")).to_be_visible()
    until(
        lambda: (
            shop.open(f"#/orders/{cancelled_order}")
            and page.locator("#order-status").inner_text() == "Cancelled"
        ),
        "the order is cancelled",
    )

    # The first ships; the carrier's tracking reaches the page; a delivered line goes back.
    order = until(
        lambda: (o := shop.own(f"/orders/{delivered_order}"))["shipments"] and o,
        "a shipment is planned",
    )
    (shipment,) = order["shipments"]
    backoffice.pack_and_ship(shipment["shipment_id"])
    until(
        lambda: (
            shop.open(f"#/orders/{delivered_order}")
            and page.locator("#order-status").inner_text() == "Delivered"
        ),
        "the carrier delivers",
    )
    tracking = page.locator("#shipments .tracking")
    expect(tracking).to_have_text(re.compile(r"\w+"))
    expect(page.locator("#shipments .timeline")).to_contain_text("In transit")
    # The order reads as it was bought: the product's name, not only its SKU.
    expect(page.locator("#order-lines")).to_contain_text(product(url, kept)["name"])
    shop.shot("order-tracking")
    page.get_by_label("Reason").fill("not as pictured")
    page.get_by_role("button", name="Request a return").click()
    expect(page.locator("#returns")).to_contain_text("Requested")
    page = shop.open("#/orders")
    expect(page.locator("#orders")).to_contain_text(delivered_order)
    expect(page.locator("#orders")).to_contain_text(cancelled_order)
    shop.shot("orders")


def flash_sale_sku(url: str) -> str:
    """A demo SKU for a sale: its units are held from stock."""
    (product_id,) = stocked_products(url, warehouses=1)
    return str(product(url, product_id)["variants"][0]["sku"])


def test_a_shopper_enters_a_flash_sale_waits_wins_and_checks_out_and_another_loses(
    browser: Browser, backoffice: Backoffice, demo_shop: tuple[str, Path]
) -> None:
    url, _ = demo_shop
    sku = flash_sale_sku(url)
    assert demo_stock(sku)
    sale_id = backoffice.open_flash_sale(sku, units=1)
    shoppers = []
    for name in ("winner", "loser"):
        context = browser.new_context(viewport=DESKTOP)
        shop = Storefront(context, url)
        shop.open("#/")  # the home page shows what is on
        shop.page.locator(f'#flash-sale-list a[href="#/flash/{sale_id}"]').click()
        expect(shop.page.get_by_role("button", name="Enter the sale")).to_be_visible()
        shop.sign_in(unique(name))
        shop.open(f"#/flash/{sale_id}")
        shoppers.append(shop)
    winner, loser = shoppers
    winner.page.get_by_role("button", name="Enter the sale").click()
    # Queued with a live position, then decided.
    expect(winner.page.locator("#flash-state")).to_contain_text(
        re.compile("in the queue|You won"), timeout=30_000
    )
    expect(winner.page.locator("#flash-state")).to_contain_text("You won!", timeout=60_000)
    winner.shot("flash-sale-won")
    # The unit is held for the winner: the next shopper waits in line, their place shown...
    loser.page.get_by_role("button", name="Enter the sale").click()
    expect(loser.page.locator("#position")).to_have_text(re.compile(r"^\d+$"), timeout=30_000)
    loser.shot("flash-sale-queued")
    winner.page.get_by_role("link", name="Check out your win").click()
    winner.fill_checkout("Visa ending 4242 (succeeds)")
    order_id = winner.placed_order_id()
    order = winner.own(f"/orders/{order_id}")
    assert [(line["sku"], line["unit_price"]["amount"]) for line in order["lines"]] == [(sku, 199)]
    # ...until the win is bought: then they are told, without reloading.
    expect(loser.page.locator("#flash-state")).to_contain_text(
        "Sold out: not this time", timeout=60_000
    )
    for shop in shoppers:
        shop.context.close()
        assert shop.console_errors == []


def test_for_you_follows_what_the_shopper_just_viewed(shop: Storefront) -> None:
    page = shop.open("#/")
    shop.sign_in(unique("viewer"))
    shop.open("#/")
    picks = page.locator("#for-you-list .card")
    expect(picks.first).to_be_visible()
    assert "from your session" not in page.locator("#for-you-list").inner_text()
    picks.nth(3).get_by_role("link").click()
    expect(page.locator("#together-list .card").first).to_be_visible()
    neighbours = set(page.locator("#together-list .card a").all_inner_texts())

    def session_picks() -> set[str] | None:
        shop.open("#/")
        expect(picks.first).to_be_visible()
        texts = [card.inner_text() for card in picks.all()]
        found = {t.split("\n")[0] for t in texts if "from your session" in t}
        return found or None

    from_session = until(session_picks, "for you follows the view", timeout=20)
    assert from_session & neighbours, (from_session, neighbours)


def test_the_shopper_keeps_browsing_when_search_and_recommendations_are_down(
    shop: Storefront, backoffice: Backoffice, demo_shop: tuple[str, Path]
) -> None:
    item = signed_in_shopper(shop, demo_shop[0], "patient")
    with backoffice.broken("search", "recommendation-store"):
        page = shop.open("#/")
        expect(page.get_by_role("heading", name="Welcome to the shop")).to_be_visible()
        expect(page.get_by_role("region", name="For you")).to_contain_text(
            "Personal picks are taking a break"
        )
        expect(page.locator("main .grid .card").first).to_be_visible()
        page.get_by_role("combobox", name="Search products").fill("christmas")
        page.get_by_role("combobox", name="Search products").press("Enter")
        expect(page.get_by_role("status").filter(has_text="simpler mode")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text("Results for “christmas”")
        shop.shot("degraded")
        shop.add_to_cart(item)  # the shop itself goes on
        expect(page.locator("#cart-count")).to_have_text("1")
        expect(page.get_by_role("alert")).to_have_count(0)


PAGES = [
    "#/",
    "#/category/{category}",
    "#/search?q=christmas",
    "#/product/{product_id}",
    "#/cart",
    "#/sign-in",
    "#/checkout",
    "#/orders",
    "#/flash/{sale_id}",
]


def test_every_page_passes_axe_with_no_serious_or_critical_violation(
    shop: Storefront, backoffice: Backoffice, demo_shop: tuple[str, Path]
) -> None:
    url, _ = demo_shop
    (item,) = stocked_products(url)
    details = product(url, item)
    sale_id = backoffice.open_flash_sale(flash_sale_sku(url), units=5)
    found: dict[str, Any] = {}
    page = shop.open("#/sign-in")
    found["#/sign-in"] = axe_violations(page)
    shop.sign_in(unique("auditor"))
    shop.add_to_cart(item)
    for route in PAGES:
        hash_route = route.format(category=details["category"], product_id=item, sale_id=sale_id)
        page = shop.open(hash_route)
        page.wait_for_load_state("networkidle")
        found[route] = axe_violations(page)
    shop.check_out("Visa ending 4242 (succeeds)")
    order_id = shop.placed_order_id()
    found["#/checkout/{id}"] = axe_violations(page)
    shop.open(f"#/orders/{order_id}")
    page.wait_for_load_state("networkidle")
    found["#/orders/{id}"] = axe_violations(page)
    shop.open(f"#/flash/{sale_id}")
    page.get_by_role("button", name="Enter the sale").click()
    expect(page.locator("#flash-state")).to_contain_text("You won!", timeout=60_000)
    found["#/flash/{id} (won)"] = axe_violations(page)
    assert {route: v for route, v in found.items() if v} == {}


def money(value: dict[str, Any]) -> str:
    return f"£{value['amount'] // 100}.{value['amount'] % 100:02d}"
