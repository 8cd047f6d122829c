"""The local platform's emulator state journal, against the running platform's moto."""

from __future__ import annotations

import json

from helpers import emulator_client, unique
from shop_local import persistence
from shop_local.platform import LocalPlatform


def test_a_binary_attribute_is_journaled_in_its_wire_form_and_replays_the_same_bytes(
    platform: LocalPlatform,
) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    tables = [unique("binary") for _ in range(2)]
    for name in tables:
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
    item = {"pk": {"S": "k"}, "b": {"B": b"\x00\xff\x10"}, "bs": {"BS": [b"\x01", b"\x02"]}}
    dynamodb.put_item(TableName=tables[0], Item=item)
    journal = persistence._journals["dynamodb"]
    assert journal is not None, "the test platform keeps its state"
    _, records = journal.recover()
    region, action, body = json.loads(records[-1])  # the put, as a restart would replay it
    assert (action, json.loads(body)["TableName"]) == ("PutItem", tables[0])
    replayed = json.dumps([region, action, body.replace(tables[0], tables[1])]).encode()
    persistence._replay_dynamodb(platform.endpoint, [replayed])
    again = dynamodb.get_item(TableName=tables[1], Key={"pk": {"S": "k"}})["Item"]
    assert again == item
