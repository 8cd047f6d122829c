"""The local platform's emulator state journal, against the running platform's moto."""

from __future__ import annotations

import json
import pickle

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


def test_the_queue_journal_records_each_message_sent_and_the_one_a_delete_removed(
    platform: LocalPlatform,
) -> None:
    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(QueueName=unique("journaled"))["QueueUrl"]
    name = url.rsplit("/", 1)[1]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(3)]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    gone = received["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=gone["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=gone["ReceiptHandle"])  # again: no record
    journal = persistence._journals["sqs"]
    assert journal is not None, "the test platform keeps its state"
    _, records = journal.recover()
    ours = [
        (change, payload)
        for change, where, payload in map(pickle.loads, records)
        if where[2] == name
    ]
    assert ours == [
        *[("add", ours[i][1]) for i in range(3)],
        ("remove", [gone["MessageId"]]),
    ]
    assert [message.id for _, message in ours[:3]] == sent
