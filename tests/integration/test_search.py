"""GET /search and /search/suggest on the local platform: the index follows the catalog's
events, typos and unfinished words still find products, facets and filters agree."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from checkout_support import fill_cart, start, wait_for
from event_support import eventually, order_event, put_on_bus
from search_support import create_product, found_ids, search, until_indexed, word

from helpers import Api, assert_error, emulator_client, invoke
from shop import faults
from shop_local.platform import LocalPlatform


def order_of(sku: str) -> dict[str, Any]:
    """An OrderPlaced event's detail for one unit of `sku` (a new order each call)."""
    detail = order_event("OrderPlaced", "buyer")
    detail["data"]["lines"] = [
        {"sku": sku, "quantity": 1, "unit_price": {"amount": 450, "currency": "GBP"}}
    ]
    return detail


def orders_counted(platform: LocalPlatform, product_id: str) -> int:
    """The orders the search service has counted for a product (its sales table)."""
    item = (
        emulator_client(platform, "dynamodb")
        .get_item(
            TableName=platform.environment["PRODUCT_SALES_TABLE"],
            Key={"pk": {"S": f"PRODUCT#{product_id}"}, "sk": {"S": "TOTAL"}},
        )
        .get("Item")
    )
    return int(item["orders"]["N"]) if item else 0


def typo(text: str) -> str:
    """The word with its 3rd and 4th letters swapped: one typo (a transposition)."""
    return text[:2] + text[3] + text[2] + text[4:]


def test_a_new_product_is_found_by_its_words_with_a_typo_and_half_typed(api: Api) -> None:
    brand = word(9)
    product = create_product(api, f"{brand.title()} Lantern")
    until_indexed(api, brand, {product["product_id"]})

    assert product["product_id"] in found_ids(api, typo(brand))  # chrsitmas -> christmas
    assert product["product_id"] in found_ids(api, f"lantern {brand[:5]}")  # still typing
    page = search(api, f"{brand} lantern")
    assert page["items"][0]["highlight"] == f"<em>{brand.title()}</em> <em>Lantern</em>"


def test_an_exact_match_outranks_a_typo_match(api: Api) -> None:
    exact = word(8)
    near = exact[:3] + ("a" if exact[3] != "a" else "b") + exact[4:]  # one substitution
    typo_match = create_product(api, f"{near.title()} Cushion")
    exact_match = create_product(api, f"{exact.title()} Cushion")
    until_indexed(api, near, {typo_match["product_id"]})
    until_indexed(api, exact, {exact_match["product_id"]})

    ranked = found_ids(api, exact)
    assert ranked.index(exact_match["product_id"]) < ranked.index(typo_match["product_id"])


def test_short_words_and_numbers_allow_no_typos(api: Api) -> None:
    short = word(4)
    product = create_product(api, f"{short.title()} Tray", description=f"model {short}77")
    until_indexed(api, short, {product["product_id"]})
    assert product["product_id"] not in found_ids(api, short[0] + short[2] + short[1] + short[3])
    assert product["product_id"] in found_ids(api, f"{short}77")
    assert product["product_id"] not in found_ids(api, f"{short}78")


def test_an_archived_product_disappears_from_search(api: Api) -> None:
    brand = word()
    product = create_product(api, f"{brand.title()} Vase")
    until_indexed(api, brand, {product["product_id"]})

    response = api.delete(f"/admin/products/{product['product_id']}", user="alice", admin=True)
    assert response.status_code in (200, 204), response.text
    eventually(lambda: product["product_id"] not in found_ids(api, brand), timeout=20)


def test_an_updated_product_is_found_by_its_new_name_only(api: Api) -> None:
    old, new = word(), word()
    product = create_product(api, f"{old.title()} Clock")
    until_indexed(api, old, {product["product_id"]})
    body = {
        "name": f"{new.title()} Clock",
        "category": product["category"],
        "variants": product["variants"],
        "version": product["version"],
    }
    response = api.put(
        f"/admin/products/{product['product_id']}", json=body, user="alice", admin=True
    )
    assert response.status_code == 200, response.text
    until_indexed(api, new, {product["product_id"]})
    assert product["product_id"] not in found_ids(api, old)


def test_facets_count_every_match_and_filters_narrow_items_and_facets_alike(api: Api) -> None:
    brand = word()
    made = [
        create_product(api, f"{brand.title()} Mug {i}", category=c, amount=a, stocked=s)
        for i, (c, a, s) in enumerate(
            [
                ("kitchen-and-dining", 300, 5),
                ("kitchen-and-dining", 800, 5),
                ("kitchen-and-dining", 1500, 0),
                ("home-decor", 2500, 5),
                ("home-decor", 7000, 5),
            ]
        )
    ]
    until_indexed(api, brand, {p["product_id"] for p in made})

    page = search(api, brand, limit=2)
    assert page["total"] == 5
    assert len(page["items"]) == 2
    assert {f["value"]: f["count"] for f in page["facets"]["category"]} == {
        "kitchen-and-dining": 3,
        "home-decor": 2,
    }
    assert [b["count"] for b in page["facets"]["price"]] == [1, 1, 1, 1, 1]

    narrowed = search(api, brand, category="kitchen-and-dining", min_price=500, in_stock="true")
    assert [i["price"]["amount"] for i in narrowed["items"]] == [800]
    assert narrowed["total"] == 1
    assert narrowed["facets"]["category"] == [{"value": "kitchen-and-dining", "count": 1}]
    out_of_stock = search(api, brand, in_stock="false")
    assert [i["in_stock"] for i in out_of_stock["items"]] == [False]

    by_price = search(api, brand, sort="price_desc")
    assert [i["price"]["amount"] for i in by_price["items"]] == [7000, 2500, 1500, 800, 300]
    cheapest = search(api, brand, sort="price_asc", max_price=1000)
    assert [i["price"]["amount"] for i in cheapest["items"]] == [300, 800]
    newest = search(api, brand, sort="newest")
    assert newest["items"][0]["product_id"] == made[-1]["product_id"]


def test_a_cursor_pages_through_every_match_once_and_only_for_its_query(api: Api) -> None:
    brand = word()
    made = [create_product(api, f"{brand.title()} Candle {i}") for i in range(5)]
    until_indexed(api, brand, {p["product_id"] for p in made})

    seen: list[str] = []
    page = search(api, brand, limit=2)
    while True:
        seen += [i["product_id"] for i in page["items"]]
        if page["cursor"] is None:
            break
        page = search(api, brand, limit=2, cursor=page["cursor"])
    assert sorted(seen) == sorted(p["product_id"] for p in made)

    cursor = search(api, brand, limit=2)["cursor"]
    assert_error(api.get("/search?" + urlencode({"q": "other", "cursor": cursor})), 400)
    assert_error(api.get("/search?" + urlencode({"q": brand, "cursor": "forged"})), 400)


def test_bad_search_input_gets_a_clear_4xx_and_query_syntax_is_just_text(api: Api) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"min_price": "1.5"},
        {"max_price": "cheap"},
        {"min_price": "900", "max_price": "100"},
        {"q": "x" * 201},
        {"sort": "random"},
        {"in_stock": "maybe"},
        {"category": "Not A Slug"},
    ):
        response = api.get("/search?" + urlencode(params))
        assert 400 <= response.status_code < 500, (params, response.text)
        assert_error(response, response.status_code)
    for text in ['"', ":", "*", "(", "~", 'a:"b" (c* ~d', "\\", "AND OR NOT", "é"]:
        assert api.get("/search?" + urlencode({"q": text})).status_code == 200, text


def test_suggestions_complete_a_half_typed_word_even_misspelt(api: Api) -> None:
    brand = word(10)
    product = create_product(api, f"Tall {brand.title()} Planter")
    until_indexed(api, brand, {product["product_id"]})

    def suggested(text: str) -> list[str]:
        response = api.get("/search/suggest?" + urlencode({"q": text}))
        assert response.status_code == 200, response.text
        return [s["product_id"] for s in response.json()["suggestions"]]

    assert product["product_id"] in suggested(brand[:6])
    assert product["product_id"] in suggested(typo(brand[:7]))  # a typo in the prefix
    assert product["product_id"] in suggested(f"tall {brand[:4]}")
    assert api.get("/search/suggest?q=").json() == {"suggestions": [], "degraded": False}


def test_orders_lift_a_product_in_relevance_and_bestselling_counting_each_order_once(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    popular = create_product(api, f"{brand.title()} Teapot")
    quiet = create_product(api, f"{brand.title()} Teapot")
    until_indexed(api, brand, {popular["product_id"], quiet["product_id"]})

    sku = popular["variants"][0]["sku"]
    for _ in range(3):
        detail = order_of(sku)
        put_on_bus(platform, detail)
        put_on_bus(platform, detail)  # delivered twice: counted once
    eventually(lambda: found_ids(api, brand, sort="bestselling")[0] == popular["product_id"])
    assert found_ids(api, brand)[0] == popular["product_id"]
    eventually(lambda: orders_counted(platform, popular["product_id"]) >= 3)
    platform.wait_until_idle(30)  # the duplicates too have been handled
    assert orders_counted(platform, popular["product_id"]) == 3


def test_a_signed_in_shopper_sees_their_kind_of_product_first_and_it_is_not_cached_publicly(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    # Same words; the garden basket sold once, so it comes first for anyone.
    garden = create_product(api, f"{brand.title()} Basket", category="garden", stocked=5)
    storage = create_product(api, f"{brand.title()} Basket", category="storage", stocked=5)
    until_indexed(api, brand, {garden["product_id"], storage["product_id"]})
    for _ in range(3):  # more than the shopper's own order will add to the other basket
        put_on_bus(platform, order_of(garden["variants"][0]["sku"]))
    eventually(lambda: orders_counted(platform, garden["product_id"]) == 3)
    platform.wait_until_idle(30)
    anonymous = api.get("/search?" + urlencode({"q": brand}))
    first_for_anyone = anonymous.json()["items"][0]["product_id"]
    assert first_for_anyone == garden["product_id"]
    assert anonymous.headers["Cache-Control"].startswith("public")

    shopper = word()
    # The shopper bought the storage basket before (shoppers here restock what they sell).
    fill_cart(api, shopper, {storage["variants"][0]["sku"]: 1})
    assert wait_for(api, shopper, start(api, shopper))["status"] == "SUCCEEDED"

    eventually(lambda: orders_counted(platform, storage["product_id"]) == 1)
    platform.wait_until_idle(30)
    signed_in = api.get("/search?" + urlencode({"q": brand}), user=shopper)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.headers["Cache-Control"] == "private, no-store"
    assert signed_in.json()["items"][0]["product_id"] == storage["product_id"]
    # Others (and a bad token) see the order everyone sees.
    assert found_ids(api, brand)[0] == first_for_anyone
    forged = api.get(
        "/search?" + urlencode({"q": brand}), headers={"Authorization": "Bearer not-a-token"}
    )
    assert forged.status_code == 200
    assert forged.headers["Cache-Control"].startswith("public")


def test_a_full_reindex_swaps_in_a_new_index_while_searches_go_on(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    product = create_product(api, f"{brand.title()} Rug")
    until_indexed(api, brand, {product["product_id"]})

    failures: list[str] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            response = api.get("/search?" + urlencode({"q": brand}))
            if response.status_code != 200 or not response.json()["items"]:
                failures.append(response.text)

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        result, error = invoke(platform, "ReindexSearchFunction", {})
    finally:
        stop.set()
        searcher.join()
    assert error is None, result
    assert result["indexed"] >= 1
    assert failures == []
    assert product["product_id"] in found_ids(api, brand)


def test_changes_made_while_the_index_is_rebuilt_are_not_lost(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    archived = create_product(api, f"{brand.title()} Jug")
    until_indexed(api, brand, {archived["product_id"]})

    # The rebuild has read the catalog and waits to swap: the catalog changes meanwhile, and
    # the indexer writes the changes to the index being replaced.
    reached, release = faults.hold("reindex_before_swap")
    outcome: list[tuple[object, str | None]] = []
    rebuild = threading.Thread(
        target=lambda: outcome.append(invoke(platform, "ReindexSearchFunction", {}))
    )
    rebuild.start()
    try:
        assert reached.wait(60)
        created = create_product(api, f"{brand.title()} Bowl")
        api.delete(f"/admin/products/{archived['product_id']}", user="alice", admin=True)
        eventually(lambda: found_ids(api, brand) == [created["product_id"]], timeout=20)
    finally:
        release.set()
        rebuild.join()
    assert outcome[0][1] is None, outcome

    assert found_ids(api, brand) == [created["product_id"]]


def _search_dead_letters(platform: LocalPlatform) -> list[dict[str, object]]:
    sqs = emulator_client(platform, "sqs")
    url = str(platform.provisioner.refs["SearchIndexDeadLetterQueue"])
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_a_poison_event_goes_to_the_indexers_dlq_and_the_rest_are_indexed(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    product = create_product(api, f"{brand.title()} Stool")
    poison = order_event("OrderPlaced", "someone")
    poison["data"]["lines"] = "not lines"  # fails the payload's model
    put_on_bus(platform, poison)
    until_indexed(api, brand, {product["product_id"]})
    eventually(
        lambda: any(
            m["detail"]["event_id"] == poison["event_id"]  # type: ignore[index]
            for m in _search_dead_letters(platform)
        ),
        timeout=60,
    )


def test_an_indexer_killed_mid_batch_loses_no_change_and_counts_no_order_twice(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    product = create_product(api, f"{brand.title()} Lamp")
    until_indexed(api, brand, {product["product_id"]})
    sku = product["variants"][0]["sku"]
    faults.inject("index_products", "crash_once")
    try:
        orders = []
        for _ in range(4):
            detail = order_of(sku)
            orders.append(detail)
            put_on_bus(platform, detail)
        renamed = word()
        body = {
            "name": f"{renamed.title()} Lamp",
            "category": product["category"],
            "variants": product["variants"],
        }
        response = api.put(
            f"/admin/products/{product['product_id']}", json=body, user="alice", admin=True
        )
        assert response.status_code == 200, response.text
        until_indexed(api, renamed, {product["product_id"]}, timeout=40)
        assert faults.pending("index_products") is None, "the indexer never crashed"
    finally:
        faults.clear()
    platform.wait_until_idle(30)
    assert orders_counted(platform, product["product_id"]) == 4
    assert product["product_id"] not in found_ids(api, brand)


def test_a_whole_sku_finds_its_product_first(api: Api) -> None:
    product = create_product(api, f"{word().title()} Apron")
    sku = product["variants"][0]["sku"]  # SKU-<hex>: a separator inside
    until_indexed(api, product["name"].split()[0].lower(), {product["product_id"]})
    assert found_ids(api, sku)[0] == product["product_id"]
    assert found_ids(api, sku.lower())[0] == product["product_id"]


def test_a_query_with_no_word_the_index_holds_finds_nothing(api: Api) -> None:
    for text in ["!!!", "日本語", "\u0000", "***"]:
        page = search(api, text)
        assert page["total"] == 0, text
        assert page["items"] == []
        response = api.get("/search/suggest?" + urlencode({"q": text}))
        assert response.json() == {"suggestions": [], "degraded": False}, text


def test_rebuilds_at_once_wait_for_each_other_and_leave_a_working_index(
    api: Api, platform: LocalPlatform
) -> None:
    brand = word()
    product = create_product(api, f"{brand.title()} Tray")
    until_indexed(api, brand, {product["product_id"]})
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda _: invoke(platform, "ReindexSearchFunction", {}), range(3)))
    assert [error for _, error in outcomes] == [None, None, None], outcomes
    assert found_ids(api, brand) == [product["product_id"]]
