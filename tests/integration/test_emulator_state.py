"""The local platform's emulator state journal, against the running platform's moto."""

from __future__ import annotations

import json
import pickle
from typing import Any

from helpers import emulator_client, new_table, unique
from shop_local import moto_speed, persistence
from shop_local.platform import LocalPlatform


def test_a_binary_attribute_is_journaled_in_its_wire_form_and_replays_the_same_bytes(
    platform: LocalPlatform,
) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    tables = [new_table(dynamodb, "binary") for _ in range(2)]
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


def queue_records(name: str) -> list[tuple[str, Any]]:
    """What the SQS journal holds of the queue called `name`: (change, payload) in order."""
    journal = persistence._journals["sqs"]
    assert journal is not None, "the test platform keeps its state"
    _, records = journal.recover()
    return [
        (change, payload)
        for change, where, payload in map(pickle.loads, records)
        if where[2] == name
    ]


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
    ours = queue_records(name)
    assert ours == [
        *[("add", ours[i][1]) for i in range(3)],
        ("remove", [gone["MessageId"]]),
    ]
    assert [message.id for _, message in ours[:3]] == sent


def test_the_queue_journal_records_a_fifo_duplicate_not_at_all(platform: LocalPlatform) -> None:
    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(
        QueueName=unique("journaled") + ".fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    name = url.rsplit("/", 1)[1]
    for _ in range(2):  # the second is the first's duplicate: moto drops it
        sqs.send_message(
            QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d"
        )
    assert [change for change, _ in queue_records(name)] == ["add"]


def test_a_delete_is_journaled_with_moto_speed_taken_out_and_put_back(
    platform: LocalPlatform,
) -> None:
    # bench/emulator_costs.py measures "before" and "after" this way on a running platform.
    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(QueueName=unique("journaled"))["QueueUrl"]
    name = url.rsplit("/", 1)[1]
    for body in ("before", "after"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    deleted = []
    moto_speed.uninstall()
    try:
        first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
        deleted.append(first["MessageId"])
    finally:
        moto_speed.install()
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    deleted.append(second["MessageId"])
    removed = [payload for change, payload in queue_records(name) if change == "remove"]
    assert removed == [[deleted[0]], [deleted[1]]]


def test_a_purged_queue_s_messages_are_journaled_as_removed(platform: LocalPlatform) -> None:
    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(QueueName=unique("journaled"))["QueueUrl"]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(3)]
    sqs.purge_queue(QueueUrl=url)
    assert queue_records(url.rsplit("/", 1)[1])[-1] == ("remove", sent)
