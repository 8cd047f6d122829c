"""shop.dynamo's primitives against the real emulator (the session's platform), each on a table
of its own; what the emulator never does (leave batch items unprocessed) is simulated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import emulator_client
from shop import dynamo
from shop.errors import BadRequest, Conflict, Throttled
from shop.pagination import page_cursor, start_key
from shop_local.platform import LocalPlatform


class Taken(Conflict):
    code = "TEST_TAKEN"


def key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@pytest.fixture
def table(platform: LocalPlatform) -> Iterator[str]:
    name = f"primitives-{uuid.uuid4().hex[:8]}"
    client = emulator_client(platform, "dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    client.delete_table(TableName=name)


def test_put_new_writes_once_then_reports_or_raises(table: str) -> None:
    assert dynamo.put_new(table, {"pk": "P", "sk": "A", "n": 1}) is True
    assert dynamo.put_new(table, {"pk": "P", "sk": "A", "n": 2}) is False
    with pytest.raises(Taken):
        dynamo.put_new(table, {"pk": "P", "sk": "A", "n": 3}, taken=Taken("taken"))
    assert dynamo.read_item(table, key("P")) == {"pk": "P", "sk": "A", "n": 1}


def test_update_if_returns_the_new_item_or_none_or_the_current_one(table: str) -> None:
    dynamo.put_new(table, {"pk": "P", "sk": "A", "status": "OPEN"})
    closed = dynamo.update_if(
        table,
        key("P"),
        "SET #s = :to",
        condition="#s = :from",
        names={"#s": "status"},
        values={":to": "CLOSED", ":from": "OPEN"},
    )
    assert closed == {"pk": "P", "sk": "A", "status": "CLOSED"}
    again: dict[str, Any] = {
        "condition": "#s = :from",
        "names": {"#s": "status"},
        "values": {":to": "CLOSED", ":from": "OPEN"},
    }
    assert dynamo.update_if(table, key("P"), "SET #s = :to", **again) is None
    current = dynamo.update_if(table, key("P"), "SET #s = :to", current_if_refused=True, **again)
    assert current == closed  # returned with the refusal (ReturnValuesOnConditionCheckFailure)
    with pytest.raises(Taken):
        dynamo.update_if(table, key("P"), "SET #s = :to", refused=Taken("no"), **again)
    absent = dynamo.update_if(table, key("Q"), "SET #s = :to", current_if_refused=True, **again)
    assert absent is None
    assert dynamo.read_item(table, key("Q")) is None  # a refused update creates nothing


def test_update_if_without_a_condition_always_writes(table: str) -> None:
    item = dynamo.update_if(table, key("P"), "SET n = :n", values={":n": 7})
    assert item == {"pk": "P", "sk": "A", "n": 7}


def test_delete_if_deletes_only_when_the_condition_holds(table: str) -> None:
    dynamo.put_new(table, {"pk": "P", "sk": "A", "n": 5})
    assert dynamo.delete_if(table, key("P"), condition="n < :n", values={":n": 5}) is False
    assert dynamo.delete_if(table, key("P"), condition="n < :n", values={":n": 6}) is True
    assert dynamo.read_item(table, key("P")) is None


def test_query_all_follows_every_page_and_query_page_stops_after_one(table: str) -> None:
    dynamo.batch_write(table, [{"pk": "P", "sk": f"{i:02d}"} for i in range(7)])
    everything = list(dynamo.query_all(table, "pk = :p", {":p": "P"}, page_size=2))
    assert [item["sk"] for item in everything] == [f"{i:02d}" for i in range(7)]
    first, last = dynamo.query_page(table, "pk = :p", {":p": "P"}, limit=3, newest_first=True)
    assert [item["sk"] for item in first] == ["06", "05", "04"]
    rest, end = dynamo.query_page(table, "pk = :p", {":p": "P"}, newest_first=True, start=last)
    assert [item["sk"] for item in rest] == ["03", "02", "01", "00"]
    assert end is None


def test_a_page_cursor_stands_for_its_start_key(table: str) -> None:
    dynamo.batch_write(table, [{"pk": "P", "sk": f"{i}"} for i in range(3)])
    _, last = dynamo.query_page(table, "pk = :p", {":p": "P"}, limit=1)
    cursor = page_cursor(last)
    assert cursor is not None
    assert start_key(cursor, keys=frozenset({"pk", "sk"})) == last
    with pytest.raises(BadRequest):
        start_key(cursor, keys=frozenset({"pk", "sk"}), numbers=frozenset({"pk"}))  # "P"


def test_batch_write_and_batch_get_cover_more_than_one_call(table: str) -> None:
    assert dynamo.batch_write(table, [{"pk": f"P{i}", "sk": "A", "i": i} for i in range(60)]) == 60
    found = dynamo.batch_get(table, [key(f"P{i}") for i in range(130)])  # 70 of them absent
    assert sorted(item["i"] for item in found) == list(range(60))
    assert len(list(dynamo.scan_all(table, page_size=7))) == 60


class Stingy:
    """A client that leaves half of each batch unprocessed `times` times (all of it, with
    `refuse_all`), as a throttled table does, and passes the rest to the emulator."""

    def __init__(self, real: Any, times: int, *, refuse_all: bool = False) -> None:
        self.real, self.times, self.refuse_all = real, times, refuse_all

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        (table, requests), *_ = RequestItems.items()
        if self.refuse_all:
            return {"UnprocessedItems": RequestItems}
        if self.times == 0:
            return dict(self.real.batch_write_item(RequestItems=RequestItems))
        self.times -= 1
        half = len(requests) // 2
        self.real.batch_write_item(RequestItems={table: requests[:half]})
        return {"UnprocessedItems": {table: requests[half:]} if requests[half:] else {}}


def test_batch_write_sends_unprocessed_items_again_with_backoff(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stingy = Stingy(dynamo._client(), times=3)
    pauses: list[int] = []
    monkeypatch.setattr(dynamo, "_client", lambda: stingy)
    monkeypatch.setattr(dynamo, "_back_off", pauses.append)
    assert dynamo.batch_write(table, [{"pk": f"P{i}", "sk": "A"} for i in range(20)]) == 20
    assert pauses == [0, 1, 2]  # one growing pause per refusal
    monkeypatch.undo()
    assert len(list(dynamo.scan_all(table))) == 20


def test_batch_write_gives_up_as_throttled(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stingy = Stingy(dynamo._client(), times=0, refuse_all=True)
    pauses: list[int] = []
    monkeypatch.setattr(dynamo, "_client", lambda: stingy)
    monkeypatch.setattr(dynamo, "_back_off", pauses.append)
    with pytest.raises(Throttled):
        dynamo.batch_write(table, [{"pk": f"P{i}", "sk": "A"} for i in range(10)])
    assert pauses == list(range(7))  # no pause after the last attempt
