"""Flash sales against the local platform: units set aside, a crowd leveled through the entry
queue, exactly `quantity` won, lapsed wins passed down the line, checkout at the sale price."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from checkout_support import charged_and_refunded, intents_of, stocked_sku, wait_for
from event_support import eventually
from flash_sale_support import (
    SALE_PRICE,
    all_tickets,
    assert_sale_agrees_with_stock,
    buy,
    crowd_enters,
    enter,
    moment,
    open_sale,
    sale_terms,
    statuses,
    ticket,
    try_to_buy,
    wait_until,
    wait_until_decided,
)
from fulfillment_support import moved_clock

from helpers import Api, assert_error, emulator_client, invoke, product_payload, unique
from shop import faults
from shop.flash_sales.service import UNDECIDED_SWEEP_SECONDS, hold_id_for
from shop.inventory.service import availability, get_reservation, stock_levels
from shop_local.platform import LocalPlatform


def on_hand(sku: str) -> int:
    return sum(level.on_hand for level in stock_levels(sku))


def tend(platform: LocalPlatform) -> None:
    _, error = invoke(platform, "TendFlashSalesFunction", {})
    assert error is None


# ---------------------------------------------------------------------------- the admin
def test_a_sale_sets_its_units_aside_from_the_skus_stock(api: Api) -> None:
    sku = stocked_sku(api, quantity=80)
    sale = open_sale(api, sku, 50)
    assert sale["status"] == "OPEN"
    assert (sale["remaining"], sale["sold"]) == (50, 0)
    assert availability(sku).available == 30
    hold = get_reservation(hold_id_for(sale["sale_id"]))
    assert hold is not None
    assert hold.status == "HELD"
    assert sum(a.quantity for a in hold.allocations) == 50
    seen = api.get(f"/flash-sales/{sale['sale_id']}")  # anyone, no token
    assert seen.status_code == 200
    assert seen.json()["remaining"] == 50
    assert seen.headers["Cache-Control"].startswith("public, max-age=")


def test_a_sale_repeated_with_its_idempotency_key_is_set_aside_once(api: Api) -> None:
    sku = stocked_sku(api, quantity=20)
    key = unique("sale")
    terms = sale_terms(sku, 5)
    first, again = (
        api.post(
            "/admin/flash-sales",
            json=terms,
            user="admin",
            admin=True,
            headers={"Idempotency-Key": key},
        )
        for _ in range(2)
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["sale_id"] == again.json()["sale_id"]
    assert availability(sku).available == 15
    other = api.post(
        "/admin/flash-sales",
        json={**terms, "quantity": 6},
        user="admin",
        admin=True,
        headers={"Idempotency-Key": key},
    )
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
    assert availability(sku).available == 15


def test_a_sale_the_stock_cannot_cover_is_refused_and_sets_nothing_aside(api: Api) -> None:
    sku = stocked_sku(api, quantity=10)
    refused = api.post("/admin/flash-sales", json=sale_terms(sku, 11), user="admin", admin=True)
    assert_error(refused, 409, "OUT_OF_STOCK")
    assert availability(sku).available == 10
    unknown = api.post(
        "/admin/flash-sales", json=sale_terms(unique("NOPE").upper(), 1), user="admin", admin=True
    )
    assert_error(unknown, 422, "SKU_NOT_FOUND")


def test_a_sale_of_a_product_no_longer_sold_is_refused_and_sets_nothing_aside(api: Api) -> None:
    sku = unique("GONE").upper()
    created = api.post(
        "/admin/products", json=product_payload(skus=[sku]), user="admin", admin=True
    ).json()
    stocked = api.put(
        f"/admin/inventory/{sku}",
        json={"warehouse_id": "wh-fs", "quantity": 10},
        user="admin",
        admin=True,
    )
    assert stocked.status_code == 200, stocked.text
    archived = api.delete(f"/admin/products/{created['product_id']}", user="admin", admin=True)
    assert archived.status_code in (200, 204), archived.text
    refused = api.post("/admin/flash-sales", json=sale_terms(sku, 1), user="admin", admin=True)
    assert_error(refused, 422, "SKU_UNAVAILABLE")
    assert availability(sku).available == 10


def test_a_sale_shows_the_product_it_sells_by_name(api: Api) -> None:
    sku = stocked_sku(api, quantity=3)
    sale = open_sale(api, sku, 1)
    shown = api.get(f"/flash-sales/{sale['sale_id']}").json()
    product = api.get(f"/products/{shown['product_id']}").json()
    assert [v["sku"] for v in product["variants"]] == [sku]
    assert shown["name"] == product["name"] != ""


def test_bad_sales_are_refused_with_a_clear_4xx_and_nothing_set_aside(api: Api) -> None:
    sku = stocked_sku(api, quantity=10)
    terms = sale_terms(sku, 5)
    bad = [
        {**terms, "ends_at": terms["starts_at"]},
        {**terms, "price": {"amount": 100, "currency": "XXZ"}},
        {**terms, "quantity": 0},
        {**terms, "per_customer_limit": 6},
        {**terms, "starts_at": "tomorrow"},
        {**terms, "hold_seconds": 5},
        {k: v for k, v in terms.items() if k != "price"},
    ]
    for body in bad:
        assert_error(
            api.post("/admin/flash-sales", json=body, user="admin", admin=True),
            422,
            "VALIDATION_FAILED",
        )
    assert_error(api.post("/admin/flash-sales", json=terms, user=unique("shopper")), 403)
    assert_error(api.post("/admin/flash-sales", json=terms), 401)
    assert availability(sku).available == 10


# ---------------------------------------------------------------------------- entering
def test_a_shopper_entering_twice_holds_one_ticket(api: Api, platform: LocalPlatform) -> None:
    sale = open_sale(api, stocked_sku(api, quantity=5), 3, per_customer_limit=2)
    shopper = unique("shopper")
    first = enter(api, sale["sale_id"], shopper, 2)
    assert first["status"] == "QUEUED"
    again = enter(api, sale["sale_id"], shopper, 1)  # another key, another quantity
    assert again["ticket_id"] == first["ticket_id"]
    platform.wait_until_idle(20)
    view = ticket(api, sale["sale_id"], shopper, first["ticket_id"])
    assert (view["status"], view["quantity"], view["position"]) == ("WON", 2, 1)
    assert view["hold_expires_at"] is not None
    assert api.get(f"/flash-sales/{sale['sale_id']}").json()["remaining"] in (1, 3)  # cached


def test_entries_are_refused_before_the_start_and_after_the_end(api: Api) -> None:
    sku = stocked_sku(api, quantity=5)
    scheduled = open_sale(api, sku, 1, starts_at=moment(600), ends_at=moment(1200))
    assert scheduled["status"] == "SCHEDULED"
    assert_error(
        api.post(f"/flash-sales/{scheduled['sale_id']}/entries", json={}, user=unique("s")),
        409,
        "SALE_NOT_OPEN",
    )
    closing = open_sale(api, sku, 1, starts_at=moment(-60), ends_at=moment(60))
    with moved_clock(120):
        assert_error(
            api.post(f"/flash-sales/{closing['sale_id']}/entries", json={}, user=unique("s")),
            409,
            "SALE_NOT_OPEN",
        )
        assert api.get(f"/flash-sales/{closing['sale_id']}").json()["status"] == "ENDED"


def test_the_sales_not_yet_ended_are_listed_soonest_first_for_anyone(api: Api) -> None:
    sku = stocked_sku(api, quantity=5)
    later = open_sale(api, sku, 1, starts_at=moment(900), ends_at=moment(1800))
    scheduled = open_sale(api, sku, 1, starts_at=moment(600), ends_at=moment(1200))
    closing = open_sale(api, sku, 1, starts_at=moment(-60), ends_at=moment(60))

    def listed() -> list[tuple[str, str]]:
        response = api.get("/flash-sales")  # no token: anyone may see what is on
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"].startswith("public")
        ours = {later["sale_id"], scheduled["sale_id"], closing["sale_id"]}
        return [
            (s["sale_id"], s["status"]) for s in response.json()["items"] if s["sale_id"] in ours
        ]

    assert listed() == [
        (closing["sale_id"], "OPEN"),
        (scheduled["sale_id"], "SCHEDULED"),
        (later["sale_id"], "SCHEDULED"),
    ]
    with moved_clock(120):  # the open one has ended: gone once its second-old status is
        eventually(
            lambda: (
                listed() == [(scheduled["sale_id"], "SCHEDULED"), (later["sale_id"], "SCHEDULED")]
            ),
            timeout=5,
        )


def test_entries_bad_input_gets_a_clear_4xx(api: Api, platform: LocalPlatform) -> None:
    sale = open_sale(api, stocked_sku(api, quantity=5), 3, per_customer_limit=2)
    sale_id = sale["sale_id"]
    shopper = unique("shopper")
    path = f"/flash-sales/{sale_id}/entries"
    assert_error(api.post(path, json={"quantity": 1}), 401)
    assert_error(api.post(path, json={"quantity": 0}, user=shopper), 422, "VALIDATION_FAILED")
    assert_error(api.post(path, json={"quantity": 3}, user=shopper), 422, "QUANTITY_LIMIT")
    assert_error(api.post(path, json={"quantity": "1"}, user=shopper), 422, "VALIDATION_FAILED")
    assert_error(api.post(path, data=b"{not json", user=shopper), 400)
    unknown = "fs-" + "0" * 32
    assert_error(
        api.post(f"/flash-sales/{unknown}/entries", json={}, user=shopper),
        404,
        "FLASH_SALE_NOT_FOUND",
    )
    assert_error(api.get(f"/flash-sales/{unknown}"), 404, "FLASH_SALE_NOT_FOUND")
    assert_error(api.get("/flash-sales/not-a-sale"), 422, "VALIDATION_FAILED")
    mine = enter(api, sale_id, shopper)
    assert_error(
        api.get(f"{path}/{mine['ticket_id']}", user=unique("someone-else")), 404, "TICKET_NOT_FOUND"
    )
    assert_error(api.get(f"{path}/{mine['ticket_id']}"), 401)
    platform.wait_until_idle(20)
    # nothing was queued by the refusals: one ticket decided
    assert api.get(f"/flash-sales/{sale_id}").json()["remaining"] in (2, 3)


# ---------------------------------------------------------------------------- the crowd
@pytest.mark.crowd
def test_200_shoppers_racing_for_20_units_give_exactly_20_winners_who_buy_at_the_sale_price(
    api: Api, platform: LocalPlatform
) -> None:
    # The 500 shoppers and 50 units run end to end in tests/e2e/test_demo_flash_sale.py
    # (`shop flash-sale-demo`); here a smaller crowd, with every invariant and each payment.
    crowd, units = 200, 20
    sku = stocked_sku(api, quantity=units + 10, amount=1250)
    before = on_hand(sku)
    sale = open_sale(api, sku, units)
    sale_id = sale["sale_id"]
    shoppers = [unique("crowd") for _ in range(crowd)]
    tickets = crowd_enters(api, sale_id, shoppers)
    assert len({t["ticket_id"] for t in tickets.values()}) == crowd
    assert all(t["status"] == "QUEUED" for t in tickets.values())
    standing = wait_until_decided(sale_id, crowd)
    assert (int(standing["won"]), int(standing["allocated"])) == (units, units)
    views = all_tickets(api, sale_id, tickets)
    # `units` won, as many wait in case a win lapses (shown QUEUED), the others know they lost
    assert statuses(views) == {"WON": units, "QUEUED": units, "LOST": crowd - 2 * units}
    positions = sorted(view["position"] for view in views.values())
    assert positions == list(range(1, crowd + 1))  # each decided once, in one line
    winners = [user for user, view in views.items() if view["status"] == "WON"]
    assert sorted(views[user]["position"] for user in winners) == list(range(1, units + 1))

    with ThreadPoolExecutor(max_workers=units) as pool:
        checkouts = dict(
            zip(
                winners,
                pool.map(lambda u: buy(api, u, views[u]["ticket_id"]), winners),
                strict=True,
            )
        )
        outcomes = dict(
            zip(
                winners,
                pool.map(lambda u: wait_for(api, u, checkouts[u], 120), winners),
                strict=True,
            )
        )
    assert all(view["status"] == "SUCCEEDED" for view in outcomes.values()), outcomes
    product_name = api.get(f"/flash-sales/{sale_id}").json()["name"]
    assert product_name
    for user, outcome in outcomes.items():
        assert outcome["total"] == {"amount": SALE_PRICE, "currency": "GBP"}
        assert outcome["lines"][0]["unit_price"]["amount"] == SALE_PRICE
        assert outcome["lines"][0]["name"] == product_name  # the order reads as bought
        (intent,) = intents_of(checkouts[user])
        assert charged_and_refunded(intent) == (SALE_PRICE, 0)

    wait_until(
        lambda: (
            statuses(all_tickets(api, sale_id, tickets)) == {"WON": units, "LOST": crowd - units}
        ),
        "the waitlist told it lost once every win was bought",
    )
    wait_until(
        lambda: api.get(f"/flash-sales/{sale_id}").json()["sold"] == units, "the sale's status"
    )
    after = api.get(f"/flash-sales/{sale_id}").json()
    assert (after["status"], after["remaining"], after["sold"]) == ("SOLD_OUT", 0, units)
    assert availability(sku).available == 10  # the 10 units outside the sale were never touched
    assert_sale_agrees_with_stock(sale_id, sku, before)


# ---------------------------------------------------------------------------- holds
def test_a_win_not_checked_out_in_time_goes_to_the_next_in_line(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, quantity=5)
    before = on_hand(sku)
    sale = open_sale(api, sku, 2, hold_seconds=60)
    sale_id = sale["sale_id"]
    shoppers = [unique("line") for _ in range(4)]
    tickets = {}
    for user in shoppers:  # one after another: the line's order is known
        tickets[user] = enter(api, sale_id, user)
        platform.wait_until_idle(20)
    first, _, third, fourth = shoppers
    views = all_tickets(api, sale_id, tickets)
    assert [views[u]["status"] for u in shoppers] == ["WON", "WON", "QUEUED", "QUEUED"]

    with moved_clock(120):  # both holds lapse
        tend(platform)
        views = all_tickets(api, sale_id, tickets)
        assert [views[u]["status"] for u in shoppers] == ["EXPIRED", "EXPIRED", "WON", "WON"]
        late = try_to_buy(api, first, tickets[first]["ticket_id"])
        assert_error(late, 409, "TICKET_NOT_WON")
        bought = wait_for(api, third, buy(api, third, tickets[third]["ticket_id"]))
        assert bought["status"] == "SUCCEEDED"
    with moved_clock(240):  # the fourth shopper's hold lapses too; then the sale ends
        tend(platform)
        assert ticket(api, sale_id, fourth, tickets[fourth]["ticket_id"])["status"] == "EXPIRED"
    with moved_clock(3 * 3600):
        tend(platform)
        assert api.get(f"/flash-sales/{sale_id}").json()["status"] == "ENDED"
    hold = get_reservation(hold_id_for(sale_id))
    assert hold is not None
    assert hold.status == "RELEASED"
    assert availability(sku).available == 4  # the unsold unit is back in stock
    assert_sale_agrees_with_stock(sale_id, sku, before)


def test_a_declined_card_gives_the_units_back_to_the_sale_and_the_winner_can_retry(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, quantity=3)
    before = on_hand(sku)
    sale = open_sale(api, sku, 1)
    shopper = unique("winner")
    entry = enter(api, sale["sale_id"], shopper)
    platform.wait_until_idle(20)
    declined = wait_for(
        api, shopper, buy(api, shopper, entry["ticket_id"], "pm_card_chargeDeclined")
    )
    assert declined["status"] == "FAILED"

    # The saga records the outcome, then frees the ticket: a moment apart (a retry in between
    # replaces the failed checkout's claim, see claim_for_checkout).
    def free_again() -> bool:
        view = ticket(api, sale["sale_id"], shopper, entry["ticket_id"])
        return (view["status"], view["checkout_id"]) == ("WON", None)

    eventually(free_again, timeout=10)
    hold = get_reservation(hold_id_for(sale["sale_id"]))
    assert hold is not None
    assert sum(a.quantity for a in hold.allocations) == 1  # back in the hold
    assert availability(sku).available == 2  # and not in the shop's stock
    paid = wait_for(api, shopper, buy(api, shopper, entry["ticket_id"]))
    assert paid["status"] == "SUCCEEDED"
    assert paid["total"]["amount"] == SALE_PRICE
    # The saga records the checkout's outcome, then tells the ticket: a moment apart.
    eventually(
        lambda: (
            ticket(api, sale["sale_id"], shopper, entry["ticket_id"])["order_id"]
            == paid["order_id"]
        ),
        timeout=10,
    )
    assert_sale_agrees_with_stock(sale["sale_id"], sku, before)


def test_two_checkouts_racing_for_one_win_buy_it_once(api: Api, platform: LocalPlatform) -> None:
    sku = stocked_sku(api, quantity=3)
    sale = open_sale(api, sku, 1)
    shopper = unique("winner")
    entry = enter(api, sale["sale_id"], shopper)
    platform.wait_until_idle(20)

    def attempt(_: int) -> tuple[int, Any]:
        response = try_to_buy(api, shopper, entry["ticket_id"])
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(attempt, range(8)))
    started = [body["checkout_id"] for status, body in answers if status == 202]
    refused = [body["error"]["code"] for status, body in answers if status != 202]
    assert started, answers
    assert set(refused) <= {"TICKET_IN_CHECKOUT", "TICKET_NOT_WON"}
    outcomes = [wait_for(api, shopper, checkout_id) for checkout_id in started]
    assert [o["status"] for o in outcomes].count("SUCCEEDED") == 1
    paid = sum(
        charged_and_refunded(i)[0] - charged_and_refunded(i)[1]
        for c in started
        for i in intents_of(c)
    )
    assert paid == SALE_PRICE


# ---------------------------------------------------------------------------- faults
def test_a_worker_crashing_mid_batch_or_an_entry_delivered_twice_loses_no_ticket_and_wins_no_more(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, quantity=20)
    sale = open_sale(api, sku, 10)
    sale_id = sale["sale_id"]
    shoppers = [unique("crash") for _ in range(30)]
    faults.inject("decide_entries", "crash_once")
    try:
        tickets = crowd_enters(api, sale_id, shoppers)
        wait_until_decided(sale_id, 30)
        assert faults.pending("decide_entries") is None, "the worker never crashed"
    finally:
        faults.clear()
    # Every entry delivered again, as SQS may: nothing changes.
    sqs = emulator_client(platform, "sqs")
    url = str(platform.provisioner.refs["FlashSaleEntriesQueue"])
    for user, accepted in tickets.items():
        detail = {
            "event_id": f"FlashSaleEntered:{accepted['ticket_id']}",
            "event_type": "FlashSaleEntered",
            "schema_version": 1,
            "occurred_at": "2026-12-01T00:00:00.000Z",
            "source": "flash_sales",
            "correlation_id": "",
            "data": {
                "sale_id": sale_id,
                "ticket_id": accepted["ticket_id"],
                "quantity": 1,
                "accepted_at_ms": 0,
            },
        }
        body = {"version": "0", "id": user, "detail-type": "FlashSaleEntered"}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**body, "detail": detail}))
    platform.wait_until_idle(30)
    views = all_tickets(api, sale_id, tickets)
    assert statuses(views)["WON"] == 10
    assert sorted(v["position"] for v in views.values()) == list(range(1, 31))
    standing = wait_until_decided(sale_id, 30)
    assert (int(standing["decided"]), int(standing["won"]), int(standing["allocated"])) == (
        30,
        10,
        10,
    )


def test_entries_whose_messages_went_to_the_dlq_are_decided_by_the_sweep_in_line_order(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, quantity=2)
    sale = open_sale(api, sku, 2)
    sale_id = sale["sale_id"]
    dead_letters = str(platform.provisioner.refs["FlashSaleEntriesDeadLetterQueue"])
    sqs = emulator_client(platform, "sqs")
    faults.inject("decide_entries", "fail")  # every delivery fails: five, then the DLQ
    try:
        shoppers = [unique("late") for _ in range(3)]
        tickets = {user: enter(api, sale_id, user) for user in shoppers}  # in this order

        def in_dlq() -> int:
            attributes = sqs.get_queue_attributes(
                QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            return int(attributes["ApproximateNumberOfMessages"])

        wait_until(lambda: in_dlq() >= 3, "the entries in the DLQ", timeout=120)
    finally:
        faults.clear()
    views = all_tickets(api, sale_id, tickets)
    assert statuses(views) == {"QUEUED": 3}  # accepted, durable, and not decided by the queue
    tend(platform)
    assert statuses(all_tickets(api, sale_id, tickets)) == {"QUEUED": 3}  # not overdue yet
    with moved_clock(UNDECIDED_SWEEP_SECONDS + 1):
        tend(platform)
        views = all_tickets(api, sale_id, tickets)
    # In line order: two wins, and the third waits in case a win lapses (shown as QUEUED).
    assert [views[user]["status"] for user in shoppers] == ["WON", "WON", "QUEUED"]
    assert [views[user]["position"] for user in shoppers] == [1, 2, 3]
    for user in shoppers[:2]:
        checkout_id = buy(api, user, tickets[user]["ticket_id"])
        assert wait_for(api, user, checkout_id)["status"] == "SUCCEEDED"
    last = tickets[shoppers[2]]["ticket_id"]  # told once the second purchase is counted
    wait_until(lambda: ticket(api, sale_id, shoppers[2], last)["status"] == "LOST", "LOST")
    sqs.purge_queue(QueueUrl=dead_letters)
