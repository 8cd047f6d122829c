"""The emulator keeps the promises of DynamoDB that our invariants rest on (see
shop_local.moto_fidelity): atomic conditional writes under concurrency, and all-or-nothing
transactions that leave no trace when cancelled."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from helpers import emulator_client, new_table, unique
from shop_local.platform import LocalPlatform


@pytest.fixture
def counter_table(platform: LocalPlatform) -> tuple[Any, str]:
    dynamodb = emulator_client(platform, "dynamodb")
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    return dynamodb, new_table(dynamodb, "fidelity", StreamSpecification=stream)


def test_concurrent_conditional_decrements_never_go_below_zero(
    platform: LocalPlatform, counter_table: tuple[Any, str]
) -> None:
    _, table = counter_table
    seed = emulator_client(platform, "dynamodb")
    seed.put_item(TableName=table, Item={"pk": {"S": "stock"}, "n": {"N": "15"}})

    def take_one(_: int) -> bool:
        client = emulator_client(platform, "dynamodb")  # one connection per thread
        try:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": "stock"}},
                UpdateExpression="SET n = n - :one",
                ConditionExpression="n >= :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False

    with ThreadPoolExecutor(max_workers=40) as pool:
        successes = sum(pool.map(take_one, range(60)))
    final = seed.get_item(TableName=table, Key={"pk": {"S": "stock"}})["Item"]["n"]["N"]
    assert (successes, final) == (15, "0")


def test_a_cancelled_transaction_writes_nothing_and_leaves_no_stream_record(
    platform: LocalPlatform, counter_table: tuple[Any, str]
) -> None:
    dynamodb, table = counter_table
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}, "n": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ConditionExpression": "n > :ten",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":ten": {"N": "10"}},
                    }
                },
            ]
        )
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "b"}})
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["n"]["N"] == "1"

    streams = emulator_client(platform, "dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    keys = [
        r["dynamodb"]["Keys"]["pk"]["S"]
        for r in streams.get_records(ShardIterator=iterator)["Records"]
    ]
    assert keys == ["a"]


def test_writes_racing_a_cancelled_transaction_are_not_lost(
    platform: LocalPlatform, counter_table: tuple[Any, str]
) -> None:
    """moto restores a copy of the whole table when a transaction is cancelled; a write that
    lands between the copy and the restore would vanish. DynamoDB never loses it."""
    dynamodb, table = counter_table
    for start in range(0, 1500, 25):
        dynamodb.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"filler-{i}"}, "n": {"N": "0"}}}}
                    for i in range(start, start + 25)
                ]
            }
        )

    def write(worker: int) -> None:
        client = emulator_client(platform, "dynamodb")
        for i in range(40):
            client.put_item(TableName=table, Item={"pk": {"S": f"w{worker}-{i}"}, "n": {"N": "1"}})

    def cancel(_: int) -> None:
        client = emulator_client(platform, "dynamodb")
        for _ in range(15):
            with pytest.raises(ClientError):
                client.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": table,
                                "Key": {"pk": {"S": "filler-0"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                    ]
                )

    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [pool.submit(write, w) for w in range(4)] + [
            pool.submit(cancel, c) for c in range(2)
        ]
        for job in jobs:
            job.result()
    missing = [
        f"w{w}-{i}"
        for w in range(4)
        for i in range(40)
        if "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": f"w{w}-{i}"}})
    ]
    assert missing == []


def test_a_transaction_that_succeeds_applies_every_write(
    counter_table: tuple[Any, str],
) -> None:
    dynamodb, table = counter_table
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {"pk": {"S": "x"}, "n": {"N": "2"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": table, "Item": {"pk": {"S": "y"}, "n": {"N": "3"}}}},
        ]
    )
    got = {
        k: dynamodb.get_item(TableName=table, Key={"pk": {"S": k}})["Item"]["n"]["N"]
        for k in ("x", "y")
    }
    assert got == {"x": "2", "y": "3"}


def test_racing_pollers_of_one_queue_move_each_spent_message_to_the_dlq_once(
    platform: LocalPlatform,
) -> None:
    sqs = emulator_client(platform, "sqs")
    dlq = sqs.create_queue(QueueName=unique("race-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "1"}
    # Visible again at once and spent after one receive: every later receive redrives it.
    url = sqs.create_queue(
        QueueName=unique("race"),
        Attributes={"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    for start in range(0, 300, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, start + 10)],
        )

    def poll() -> int:
        for _ in range(200):
            if not sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                return 0
        return 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: poll(), range(8)))  # a 500 from the emulator raises here
    parked: list[str] = []
    while found := sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages"):
        parked += [m["Body"] for m in found]
    assert sorted(parked, key=int) == [str(i) for i in range(300)]  # each parked once
