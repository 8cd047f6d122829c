"""The emulator answers as moto does, without moto's costs that grow with its data (see
shop_local.moto_speed): a Query reads only the partition or the index bucket it can match, Step
Functions parses a definition once and shares its clients, and what moto kept of finished
executions and stream iterators is bounded."""

from __future__ import annotations

import gc
import http.client
import io
import json
import os
import random
import threading
import time
import types
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import moto
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from checkout_support import stocked_sku
from moto import backends
from moto.core.responses import BaseResponse
from moto.core.utils import method_names_from_class
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_api._internal import mock_random
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client

from helpers import Api, emulator_client, new_table, unique
from shop_local import lambda_seam, moto_speed
from shop_local.platform import LocalPlatform
from shop_local.provision import REGION

ROLE = "arn:aws:iam::123456789012:role/test"
GROUPS = ("red", "green", "blue")


# ---------------------------------------------------------------------- DynamoDB Query
@pytest.fixture
def orders(platform: LocalPlatform) -> tuple[Any, str]:
    """A table with a range key, a GSI with a range key and a GSI without one, filled with 60
    items over 6 partitions, 3 groups and 3 statuses."""
    dynamodb = emulator_client(platform, "dynamodb")
    name = unique("speed")
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "group", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByGroup",
                "KeySchema": [
                    {"AttributeName": "group", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "ByStatus",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    )
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "pk": {"S": f"p{i % 6}"},
                    "sk": {"N": str(i)},
                    "group": {"S": GROUPS[i % 3]},
                    "at": {"N": str(i % 7)},  # ties in the index's sort key
                    "status": {"S": ("new", "paid", "sent")[i % 4 % 3]},
                    "n": {"N": str(i)},
                }
            }
        }
        for i in range(60)
    ]
    for start in range(0, len(requests), 25):
        dynamodb.batch_write_item(RequestItems={name: requests[start : start + 25]})
    return dynamodb, name


def every_page(dynamodb: Any, operation: str = "query", **request: Any) -> list[dict[str, Any]]:
    """Each page's Items, Count, ScannedCount and LastEvaluatedKey of a Query (or a Scan),
    following the pages."""
    pages = []
    while True:
        page = getattr(dynamodb, operation)(**request)
        page.pop("ResponseMetadata")
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}},
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "p2"}, ":a": {"N": "10"}, ":b": {"N": "40"}},
        "ScanIndexForward": False,
        "Limit": 2,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :a",
        "FilterExpression": "n < :f",
        "ExpressionAttributeValues": {":p": {"S": "p3"}, ":a": {"N": "5"}, ":f": {"N": "40"}},
        "Limit": 3,
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g",
        "ExpressionAttributeNames": {"#g": "group"},
        "ExpressionAttributeValues": {":g": {"S": "red"}},
        "Limit": 4,
    },
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g AND #a >= :a",
        "ExpressionAttributeNames": {"#g": "group", "#a": "at"},
        "ExpressionAttributeValues": {":g": {"S": "green"}, ":a": {"N": "3"}},
        "ScanIndexForward": False,
        "Limit": 5,
    },
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g",
        "FilterExpression": "n > :n",
        "ProjectionExpression": "pk, sk, n",
        "ExpressionAttributeNames": {"#g": "group"},
        "ExpressionAttributeValues": {":g": {"S": "blue"}, ":n": {"N": "20"}},
        "Limit": 3,
    },
    {
        "IndexName": "ByStatus",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "paid"}},
        "Limit": 7,
    },
    {
        "IndexName": "ByStatus",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "lost"}},
    },
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g AND #a BETWEEN :a AND :b",
        "ExpressionAttributeNames": {"#g": "group", "#a": "at"},
        "ExpressionAttributeValues": {":g": {"S": "red"}, ":a": {"N": "2"}, ":b": {"N": "4"}},
        "ScanIndexForward": False,
        "Limit": 1,
    },
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g AND #a < :a",
        "ExpressionAttributeNames": {"#g": "group", "#a": "at"},
        "ExpressionAttributeValues": {":g": {"S": "blue"}, ":a": {"N": "5"}},
        "Limit": 100,
    },
    {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g AND #a > :a",
        "ExpressionAttributeNames": {"#g": "group", "#a": "at"},
        "ExpressionAttributeValues": {":g": {"S": "green"}, ":a": {"N": "4"}},
        "ScanIndexForward": False,
    },
    {
        "IndexName": "ByStatus",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "new"}},
        "ScanIndexForward": False,
        "Limit": 4,
    },
]


def moto_and_seam(dynamodb: Any, table: str, query: dict[str, Any]) -> tuple[Any, Any]:
    with moto_speed.moto_queries():
        expected = every_page(dynamodb, TableName=table, **query)
    return expected, every_page(dynamodb, TableName=table, **query)


@pytest.mark.parametrize("query", QUERIES, ids=[f"query-{i}" for i in range(len(QUERIES))])
def test_a_query_answers_what_moto_answers_page_by_page(
    orders: tuple[Any, str], query: dict[str, Any]
) -> None:
    dynamodb, table = orders
    expected, got = moto_and_seam(dynamodb, table, query)
    assert got == expected


def test_an_index_query_is_in_index_order_and_pages_through_every_match(
    orders: tuple[Any, str],
) -> None:
    dynamodb, table = orders
    pages = every_page(
        dynamodb,
        TableName=table,
        IndexName="ByGroup",
        KeyConditionExpression="#g = :g",
        ExpressionAttributeNames={"#g": "group"},
        ExpressionAttributeValues={":g": {"S": "red"}},
        Limit=4,
    )
    items = [item for page in pages for item in page["Items"]]
    keys = [(int(i["at"]["N"]), i["pk"]["S"], int(i["sk"]["N"])) for i in items]
    assert len(pages) == 5  # 20 red items, 4 a page, and a last page that finds none left
    assert keys == sorted(keys)
    assert sorted(k[2] for k in keys) == list(range(0, 60, 3))


@pytest.mark.parametrize(
    "scan",
    [
        {"Limit": 7},
        {"Limit": 60},
        {},
        {
            "Limit": 5,
            "FilterExpression": "n > :n",
            "ExpressionAttributeValues": {":n": {"N": "30"}},
        },
        {"Limit": 9, "ProjectionExpression": "pk, n"},
    ],
    ids=["pages-of-7", "one-page", "no-limit", "filtered", "projected"],
)
def test_a_scan_answers_what_moto_answers_page_by_page_and_after_writes(
    orders: tuple[Any, str], scan: dict[str, Any]
) -> None:
    dynamodb, table = orders
    with moto_speed.moto_queries():
        expected = every_page(dynamodb, "scan", TableName=table, ConsistentRead=True, **scan)
    assert every_page(dynamodb, "scan", TableName=table, ConsistentRead=True, **scan) == expected
    # A write between pages (a new key, a deleted one) is seen as moto sees it.
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": "p0"}, "sk": {"N": "1000"}, "n": {"N": "1"}}
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "p3"}, "sk": {"N": "3"}})
    with moto_speed.moto_queries():
        expected = every_page(dynamodb, "scan", TableName=table, ConsistentRead=True, **scan)
    assert every_page(dynamodb, "scan", TableName=table, ConsistentRead=True, **scan) == expected


def test_writes_move_items_between_index_buckets(orders: tuple[Any, str]) -> None:
    dynamodb, table = orders
    red: dict[str, Any] = {
        "IndexName": "ByGroup",
        "KeyConditionExpression": "#g = :g",
        "ExpressionAttributeNames": {"#g": "group"},
        "ExpressionAttributeValues": {":g": {"S": "red"}},
    }

    def red_keys() -> list[int]:
        return sorted(
            int(i["sk"]["N"])
            for p in every_page(dynamodb, TableName=table, **red)
            for i in p["Items"]
        )

    before = red_keys()
    key = {"pk": {"S": "p1"}, "sk": {"N": "1"}}  # green
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #g = :g",
        ExpressionAttributeNames={"#g": "group"},
        ExpressionAttributeValues={":g": {"S": "red"}},
    )
    assert red_keys() == sorted([*before, 1])
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="REMOVE #g",
        ExpressionAttributeNames={"#g": "group"},
    )
    assert red_keys() == before  # without its key attribute, an item leaves the index
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}})
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**key, "group": {"S": "red"}, "at": {"N": "0"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "p3"}, "sk": {"N": "3"}},
                    "UpdateExpression": "SET #g = :g",
                    "ExpressionAttributeNames": {"#g": "group"},
                    "ExpressionAttributeValues": {":g": {"S": "blue"}},
                }
            },
        ]
    )
    assert red_keys() == sorted({*before, 1} - {0, 3})
    with moto_speed.moto_queries():
        assert red_keys() == sorted({*before, 1} - {0, 3})


def test_queries_racing_writes_see_only_matching_items_and_end_as_moto_does(
    orders: tuple[Any, str], platform: LocalPlatform
) -> None:
    dynamodb, table = orders
    done = threading.Event()

    def write(worker: int) -> None:
        client = emulator_client(platform, "dynamodb")
        rng = random.Random(worker)
        for _ in range(60):
            i = rng.randrange(60)
            key = {"pk": {"S": f"p{i % 6}"}, "sk": {"N": str(i)}}
            if rng.random() < 0.2:
                client.delete_item(TableName=table, Key=key)
            else:
                client.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET #g = :g, #a = :a",
                    ExpressionAttributeNames={"#g": "group", "#a": "at"},
                    ExpressionAttributeValues={
                        ":g": {"S": rng.choice(GROUPS)},
                        ":a": {"N": str(rng.randrange(7))},
                    },
                )

    def read(_: int) -> list[str]:
        client = emulator_client(platform, "dynamodb")
        wrong = []
        while not done.is_set():
            group = random.choice(GROUPS)
            for page in every_page(
                client,
                TableName=table,
                IndexName="ByGroup",
                KeyConditionExpression="#g = :g",
                ExpressionAttributeNames={"#g": "group"},
                ExpressionAttributeValues={":g": {"S": group}},
                Limit=6,
            ):
                wrong += [i["pk"]["S"] for i in page["Items"] if i["group"]["S"] != group]
        return wrong

    with ThreadPoolExecutor(max_workers=5) as pool:
        readers = [pool.submit(read, r) for r in range(2)]
        for writer in [pool.submit(write, w) for w in range(3)]:
            writer.result()
        done.set()
        assert [w for r in readers for w in r.result()] == []
    for query in QUERIES:
        expected, got = moto_and_seam(dynamodb, table, query)
        assert got == expected


# ---------------------------------------------------------------------- Step Functions
def machine(platform: LocalPlatform, definition: dict[str, Any]) -> tuple[Any, str]:
    sfn = emulator_client(platform, "stepfunctions")
    arn = sfn.create_state_machine(
        name=unique("speed"), definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return sfn, arn


def run(
    sfn: Any, arn: str, payload: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    execution_arn = sfn.start_execution(
        stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(payload or {})
    )["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return described, [e["type"] for e in events]


@pytest.fixture
def counter(platform: LocalPlatform) -> str:
    return new_table(emulator_client(platform, "dynamodb"), "speed-counter")


def retrying_definition(table: str) -> dict[str, Any]:
    """A task that always fails its condition: retried once, then caught."""
    return {
        "Comment": unique("retry"),  # a definition no other test has parsed
        "StartAt": "Take",
        "States": {
            "Take": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": table,
                    "Key": {"pk": {"S.$": "$.pk"}},
                    "UpdateExpression": "SET n = :one",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                },
                "Retry": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 1,
                    }
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times an ASL definition is parsed, and boto3 clients made for tasks."""
    counts = {"parsed": 0, "clients": 0}
    parse, make = AmazonStateLanguageParser.parse, boto_client.boto_client_for

    def counting_parse(definition: str) -> Any:
        counts["parsed"] += 1
        return parse(definition)

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        counts["clients"] += 1
        return make(*args, **kwargs)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting_parse))
    monkeypatch.setattr(boto_client, "boto_client_for", counting_client)
    monkeypatch.setattr(moto_speed, "_clients", {})  # a client is made once more, then shared
    return counts


def test_executions_of_one_definition_parse_it_once_share_a_client_and_still_retry_and_catch(
    platform: LocalPlatform, counter: str, counted: dict[str, int]
) -> None:
    sfn, arn = machine(platform, retrying_definition(counter))
    counted["parsed"] = 0  # creating the machine validates it: a parse of its own
    outcomes = [run(sfn, arn, {"pk": f"missing-{i}"}) for i in range(3)]
    for described, events in outcomes:
        output = json.loads(described["output"])
        assert described["status"] == "SUCCEEDED"
        assert output["error"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
        assert events.count("TaskFailed") == 2  # the first attempt and its one retry
        assert events[-2:] == ["PassStateExited", "ExecutionSucceeded"]
    assert outcomes[0][1] == outcomes[1][1] == outcomes[2][1]
    assert counted == {"parsed": 1, "clients": 1}


def test_concurrent_executions_of_one_program_keep_their_own_data(platform: LocalPlatform) -> None:
    sfn, arn = machine(
        platform,
        {
            "StartAt": "Shape",
            "States": {
                "Shape": {
                    "Type": "Pass",
                    "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"},
                    "Next": "Rest",
                },
                "Rest": {"Type": "Wait", "Seconds": 1, "Next": "Choose"},
                "Choose": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.twice", "NumericGreaterThan": 10, "Next": "Big"}],
                    "Default": "Small",
                },
                "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
                "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
            },
        },
    )
    with ThreadPoolExecutor(max_workers=6) as pool:
        outputs = list(
            pool.map(lambda n: json.loads(run(sfn, arn, {"n": n})[0]["output"]), range(6))
        )
    assert outputs == [{"twice": 2 * n, "size": "big" if 2 * n > 10 else "small"} for n in range(6)]


def test_only_the_most_recent_finished_executions_are_kept_and_running_ones_always(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_speed, "KEEP_FINISHED_EXECUTIONS", 4)
    sfn, arn = machine(
        platform,
        {
            "StartAt": "Slow?",
            "States": {
                "Slow?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.slow", "IsPresent": True, "Next": "Wait"}],
                    "Default": "Done",
                },
                "Wait": {"Type": "Wait", "Seconds": 30, "End": True},
                "Done": {"Type": "Pass", "End": True},
            },
        },
    )
    slow = sfn.start_execution(stateMachineArn=arn, name="slow", input='{"slow": true}')
    finished = [run(sfn, arn)[0]["executionArn"] for _ in range(12)]
    kept = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}

    assert set(finished[-4:]) <= kept
    assert finished[0] not in kept
    with pytest.raises(ClientError) as gone:
        sfn.describe_execution(executionArn=finished[0])
    assert gone.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    assert sfn.describe_execution(executionArn=finished[-1])["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=finished[-1])["events"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    # The oldest of all, but still running: kept.
    assert sfn.describe_execution(executionArn=slow["executionArn"])["status"] == "RUNNING"


# ---------------------------------------------------------------------- DynamoDB Streams
def test_shard_iterators_expire_after_fifteen_minutes_as_on_dynamodb_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(moto_speed, "_clock", lambda: clock[0])
    backend = types.SimpleNamespace(shard_iterators={})
    remember: Callable[[Any, str], None] = moto_speed._remember

    for i in range(3):
        backend.shard_iterators[f"old-{i}"] = object()
        remember(backend, f"old-{i}")
    clock[0] += 15 * 60 - 1
    backend.shard_iterators["recent"] = object()
    remember(backend, "recent")
    assert set(backend.shard_iterators) == {"old-0", "old-1", "old-2", "recent"}
    clock[0] += 2
    backend.shard_iterators["new"] = object()
    remember(backend, "new")
    assert set(backend.shard_iterators) == {"recent", "new"}


def streamed_table(platform: LocalPlatform, view: str) -> tuple[str, str, str]:
    """A new table keyed by `pk` with a stream of `view`: its name, stream ARN and shard."""
    dynamodb = emulator_client(platform, "dynamodb")
    stream = {"StreamEnabled": True, "StreamViewType": view}
    table = new_table(dynamodb, "speed-stream", StreamSpecification=stream)
    arn: str = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = emulator_client(platform, "dynamodbstreams")
    shard: str = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return table, arn, shard


def test_a_stream_keeps_its_latest_records_with_their_sequence_numbers(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    streams = emulator_client(platform, "dynamodbstreams")
    table, arn, shard = streamed_table(platform, "NEW_IMAGE")

    def iterator(kind: str) -> str:
        found: str = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType=kind
        )["ShardIterator"]
        return found

    early = iterator("TRIM_HORIZON")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "w0"}})
    (first,) = streams.get_records(ShardIterator=early)["Records"]
    monkeypatch.setattr(moto_speed, "KEEP_STREAM_RECORDS", 5)
    for i in range(1, 12):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}})

    records = streams.get_records(ShardIterator=iterator("TRIM_HORIZON"))["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == [f"w{i}" for i in range(7, 12)]
    numbers = [int(first["dynamodb"]["SequenceNumber"])] + [
        int(r["dynamodb"]["SequenceNumber"]) for r in records
    ]
    assert numbers == [numbers[0]] + [numbers[0] + i for i in range(7, 12)]
    # An iterator into what was dropped reads on from the oldest record kept.
    stale = streams.get_records(ShardIterator=early)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stale] == [f"w{i}" for i in range(7, 12)]
    latest = iterator("LATEST")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "w12"}})
    (newest,) = streams.get_records(ShardIterator=latest)["Records"]
    assert int(newest["dynamodb"]["SequenceNumber"]) == numbers[0] + 12


def test_stream_records_are_written_as_moto_writes_them(platform: LocalPlatform) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    streams = emulator_client(platform, "dynamodbstreams")
    bodies: list[Any] = []
    streams.meta.events.register(
        "after-call.dynamodbstreams.GetRecords",
        lambda http_response, **_: bodies.append(json.loads(http_response.content)),
    )
    table, arn, shard = streamed_table(platform, "NEW_AND_OLD_IMAGES")
    start = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    every_type = {
        "n": {"N": "1.50"},
        "s": {"S": 'é\u2028"quoted"'},
        "nested": {"L": [{"M": {"s": {"S": "é"}, "t": {"BOOL": True}, "z": {"NULL": True}}}]},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "empty": {"M": {}},
    }
    for i in range(3):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}, **every_type})
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "w0"}},
        UpdateExpression="SET n = :n REMOVE s",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "w1"}})

    fast = streams.get_records(ShardIterator=start, Limit=3)
    rest = streams.get_records(ShardIterator=fast["NextShardIterator"])
    with moto_speed.moto_queries():
        own = streams.get_records(ShardIterator=start, Limit=3)
        streams.get_records(ShardIterator=own["NextShardIterator"])
    assert [r["eventName"] for r in fast["Records"] + rest["Records"]] == [
        *["INSERT"] * 3,
        "MODIFY",
        "REMOVE",
    ]
    assert fast["Records"][0]["dynamodb"]["NewImage"]["n"] == {"N": "1.50"}
    fast_body, rest_body, own_body, own_rest_body = bodies
    # Iterators are new each read; everything else is byte for byte what moto's serializer wrote.
    for body in bodies:
        assert body.pop("NextShardIterator").startswith(arn)
    assert (fast_body, rest_body) == (own_body, own_rest_body)
    assert len(fast_body["Records"]) == 3
    assert len(rest_body["Records"]) == 2


def test_the_server_still_finds_every_backend_from_its_list_made_once() -> None:
    folder = os.path.dirname(moto.__file__)
    listed = sorted(
        name
        for name in os.listdir(folder)
        if os.path.isdir(os.path.join(folder, name)) and not name.startswith("__")
    )
    assert list(backends.list_of_moto_modules()) == listed
    assert {"dynamodb", "stepfunctions", "sqs", "events"} <= set(backends.list_of_moto_modules())


@pytest.fixture(autouse=True)
def _speed_installed(platform: LocalPlatform) -> None:
    assert moto_speed.installed(), "the platform installs shop_local.moto_speed"


def _dynamodb_request(connection: Any, target: str, body: dict[str, Any]) -> tuple[int, Any]:
    connection.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/eu-west-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_moto_serves_request_after_request_on_one_connection(platform: LocalPlatform) -> None:
    host, port = platform.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    status, listed = _dynamodb_request(connection, "ListTables", {})
    assert status == 200
    sock = connection.sock
    table = listed["TableNames"][0]
    for _ in range(3):  # a refused request (its body read and answered) keeps it too
        assert _dynamodb_request(connection, "DescribeTable", {"TableName": table})[0] == 200
        assert _dynamodb_request(connection, "DescribeTable", {"TableName": "absent"})[0] == 400
    assert connection.sock is sock  # never closed by the server, never reopened
    connection.close()


# ---------------------------------------------------------------------- DynamoDB transactions
def transaction_outcomes(dynamodb: Any, table: str) -> list[Any]:
    """Each of a set of transactions' answer (its cancellation reasons, or None) and the table
    after it: committed, cancelled by a condition (with and without the old item returned), two
    writes of one item, and a write moto refuses mid-way (ADD to a string)."""
    key = {"pk": {"S": "t"}, "sk": {"N": "1"}}
    other = {"pk": {"S": "t"}, "sk": {"N": "2"}}
    put = {"Put": {"TableName": table, "Item": {**key, "n": {"N": "1"}, "s": {"S": "x"}}}}
    transactions = [
        [put, {"Put": {"TableName": table, "Item": {**other, "n": {"N": "5"}}}}],
        [
            {
                "Update": {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": other,
                    "ConditionExpression": "n = :six",
                    "ExpressionAttributeValues": {":six": {"N": "6"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ],
        [put, {"Delete": {"TableName": table, "Key": key}}],
        [
            {"Delete": {"TableName": table, "Key": other}},
            {
                "Update": {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "ADD s :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ],
        [
            {"Delete": {"TableName": table, "Key": other}},
            {
                "Update": {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET n = n + :one",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ],
    ]
    outcomes: list[Any] = []
    for transaction in transactions:
        try:
            dynamodb.transact_write_items(TransactItems=transaction)
            answer: Any = None
        except dynamodb.exceptions.TransactionCanceledException as error:
            answer = error.response.get("CancellationReasons")
        except ClientError as error:
            answer = error.response["Error"]["Code"]
        items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
        outcomes.append((answer, sorted(items, key=lambda i: i["sk"]["N"])))
    return outcomes


def test_transactions_answer_and_roll_back_as_moto_does(platform: LocalPlatform) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    tables = [new_table(dynamodb, "tx", (("pk", "S"), ("sk", "N"))) for _ in range(2)]
    ours = transaction_outcomes(dynamodb, tables[0])
    # moto's own, for these transactions only (correct, only slower, for anyone else meanwhile)
    seam = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = moto_speed._originals["transact_write_items"]  # type: ignore[method-assign]
    try:
        theirs = transaction_outcomes(dynamodb, tables[1])
    finally:
        DynamoDBBackend.transact_write_items = seam  # type: ignore[method-assign]
    assert ours == theirs
    assert [answer is None for answer, _ in ours] == [True, False, False, False, True]


# ---------------------------------------------------------------------- UpdateExpression
def counter_updates(dynamodb: Any, table: str, expression: str) -> list[Any]:
    """Three updates of one item with one expression and different values, and a fourth with
    an expression that does not parse: what each answered."""
    names = {"#count": "count", "#tag": "tag"}
    answers: list[Any] = []
    for step, tag in ((1, "a"), (2, "b"), (4, "c")):
        answers.append(
            dynamodb.update_item(
                TableName=table,
                Key={"pk": {"S": "one"}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":step": {"N": str(step)},
                    ":tag": {"S": tag},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        )
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            dynamodb.update_item(
                TableName=table,
                Key={"pk": {"S": "one"}},
                UpdateExpression="SET = :tag",
                ExpressionAttributeValues={":tag": {"S": "d"}},
            )
        answers.append(refused.value.response["Error"])
    return answers


def test_an_update_expression_is_parsed_once_and_each_write_applies_its_own_values(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    tables = [new_table(dynamodb, "update") for _ in range(2)]
    # An expression no other test writes (spaces are free), so its parses are this test's.
    expression = "SET #count = if_not_exists(#count, :zero) + :step," + " " * 7 + "#tag = :tag"
    moto_parse = moto_speed._originals["update_expression"]
    parses: list[str] = []

    def counted(cls: type, expression_str: str) -> Any:
        parses.append(expression_str)
        return moto_parse.__func__(cls, expression_str)

    monkeypatch.setitem(moto_speed._originals, "update_expression", classmethod(counted))
    moto_speed._update_expression_tree.cache_clear()
    ours = counter_updates(dynamodb, tables[0], expression)
    assert parses.count(expression) == 1  # three writes, each parsed twice by moto
    # moto's own, for these writes only (correct, only slower, for anyone else meanwhile)
    monkeypatch.setattr(UpdateExpressionParser, "make", moto_parse)
    theirs = counter_updates(dynamodb, tables[1], expression)
    assert ours == theirs
    assert ours[2] == {"pk": {"S": "one"}, "count": {"N": "7"}, "tag": {"S": "c"}}
    assert ours[3]["Code"] == ours[4]["Code"] == "ValidationException"


def shape_updates(
    dynamodb: Any, keyed_by_pk: str, keyed_by_pk_and_sk: str, checks: Callable[[], int]
) -> list[tuple[Any, int]]:
    """Updates whose shape moto's checks pass or refuse, each made twice: what each answered,
    and how many shape checks (`checks()` counts them) it ran. (Spaces no other test writes:
    these trees' checks are this test's.)"""
    gap = " " * 13
    updates: list[tuple[str, str, dict[str, str] | None]] = [
        (keyed_by_pk, f"SET #a ={gap}:v", {"#a": "a"}),
        (keyed_by_pk, f"SET #a ={gap}:v", {"#a": "pk"}),  # the same tree, names change a key
        (keyed_by_pk, f"SET sk ={gap}:v", None),
        (keyed_by_pk_and_sk, f"SET sk ={gap}:v", None),  # the same tree, a key of this table
        (keyed_by_pk, f"SET a ={gap}:v, a = :v", None),  # one path set twice
        (keyed_by_pk, f"SET a ={gap}:v SET b = :v", None),  # two SET clauses
        (keyed_by_pk, f"SET #a ={gap}:v", {"#a": "a"}),  # passed before: passes again
    ]
    answers: list[tuple[Any, int]] = []
    for table, expression, names in updates:
        key = {"pk": {"S": "one"}} | ({"sk": {"S": "x"}} if table == keyed_by_pk_and_sk else {})
        for value in ("first", "second"):
            before = checks()
            try:
                answer = dynamodb.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression=expression,
                    **({"ExpressionAttributeNames": names} if names else {}),
                    ExpressionAttributeValues={":v": {"S": value}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError as refused:
                answer = refused.response["Error"]
            answers.append((answer, checks() - before))
    return answers


def test_an_update_s_shape_is_checked_once_per_names_and_keys_and_a_bad_one_every_time(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        UpdateExpressionValidator,
    )

    dynamodb = emulator_client(platform, "dynamodb")
    by_pk, by_pk_and_sk = (("pk", "S"),), (("pk", "S"), ("sk", "S"))
    tables = [new_table(dynamodb, "shape", k) for k in (by_pk, by_pk_and_sk) * 2]
    counted = 0
    moto_count = ActionCountValidator.verify_action_counts

    def count(self: Any, node: Any) -> Any:
        nonlocal counted
        counted += 1
        return moto_count(self, node)

    monkeypatch.setattr(ActionCountValidator, "verify_action_counts", count)
    ours = shape_updates(dynamodb, tables[0], tables[1], lambda: counted)
    # moto's own: every check, every time
    monkeypatch.setattr(
        UpdateExpressionValidator, "get_ast_processors", moto_speed._originals["update_processors"]
    )
    theirs = shape_updates(dynamodb, tables[2], tables[3], lambda: counted)
    assert [answer for answer, _ in ours] == [answer for answer, _ in theirs]
    assert all(checked for _, checked in theirs)
    codes = [answer.get("Code") for answer, _ in ours]
    assert codes == [None, None] + ["ValidationException"] * 2 + [None, None] + [
        "ValidationException"
    ] * 6 + [None, None]
    # A shape that passed is not checked again, for the same names and keys; one refused is.
    checked = [bool(n) for _, n in ours]
    assert checked == [True, False, True, True, True, False] + [True] * 6 + [False, False]
    assert ours[13][0] == {"pk": {"S": "one"}, "a": {"S": "second"}, "sk": {"S": "second"}}


# ---------------------------------------------------------------------- answers as JSON
def test_item_answers_are_what_moto_serializer_writes(platform: LocalPlatform) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    name = unique("answers")
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "group", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByGroup",
                "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    every_type = {
        "n": {"N": "1.50"},
        "s": {"S": 'é\u2028"quoted"'},
        "b": {"B": b"\x00\xffbinary"},
        "bs": {"BS": [b"a", b"\x01"]},
        "nested": {"L": [{"M": {"s": {"S": "é"}, "t": {"BOOL": True}, "z": {"NULL": True}}}]},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "empty": {"M": {}},
        "group": {"S": "red"},
    }

    def key(i: int) -> dict[str, Any]:
        return {"pk": {"S": f"p{i % 2}"}, "sk": {"N": str(i)}}

    with moto_speed.compared_answers() as differences:
        for i in range(6):
            dynamodb.put_item(TableName=name, Item={**key(i), **every_type})
        dynamodb.put_item(
            TableName=name,
            Item={**key(0), **every_type, "n": {"N": "2"}},
            ReturnValues="ALL_OLD",
            ReturnConsumedCapacity="TOTAL",
        )
        dynamodb.get_item(TableName=name, Key=key(0), ConsistentRead=True)
        dynamodb.get_item(TableName=name, Key=key(99))
        dynamodb.get_item(TableName=name, Key=key(1), ProjectionExpression="b, nested[0].s")
        dynamodb.update_item(
            TableName=name,
            Key=key(1),
            UpdateExpression="SET n = n + :one REMOVE s",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        dynamodb.update_item(
            TableName=name,
            Key=key(2),
            UpdateExpression="ADD ns :more",
            ExpressionAttributeValues={":more": {"NS": ["7"]}},
            ReturnValues="UPDATED_OLD",
        )
        dynamodb.delete_item(TableName=name, Key=key(3), ReturnValues="ALL_OLD")
        page = dynamodb.query(
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p0"}},
            Limit=1,
            ReturnConsumedCapacity="INDEXES",
        )
        dynamodb.query(
            TableName=name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p0"}},
            ExclusiveStartKey=page["LastEvaluatedKey"],
            Select="COUNT",
        )
        dynamodb.query(
            TableName=name,
            IndexName="ByGroup",
            KeyConditionExpression="#g = :g",
            ExpressionAttributeNames={"#g": "group"},
            ExpressionAttributeValues={":g": {"S": "red"}},
            ScanIndexForward=False,
        )
        dynamodb.scan(TableName=name, Limit=2)
        dynamodb.scan(TableName=name, FilterExpression="attribute_exists(s)")
        dynamodb.batch_get_item(
            RequestItems={name: {"Keys": [key(0), key(1), key(99)], "ConsistentRead": True}}
        )
        dynamodb.batch_write_item(
            RequestItems={
                name: [
                    {"PutRequest": {"Item": {**key(10), **every_type}}},
                    {"DeleteRequest": {"Key": key(4)}},
                ]
            },
            ReturnConsumedCapacity="TOTAL",
        )
        dynamodb.transact_get_items(
            TransactItems=[{"Get": {"TableName": name, "Key": key(i)}} for i in (0, 1, 99)]
        )
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {**key(20), **every_type}}},
                {
                    "Update": {
                        "TableName": name,
                        "Key": key(0),
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "3"}},
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        dynamodb.execute_statement(Statement=f"SELECT * FROM \"{name}\" WHERE pk = 'p0'")
        described = dynamodb.describe_table(TableName=name)  # moto's serializer, as before
    assert differences == []
    assert described["Table"]["TableName"] == name


def test_queue_attributes_are_moto_own_computed_when_read(platform: LocalPlatform) -> None:
    from moto.sqs.models import Queue, sqs_backends

    sqs = emulator_client(platform, "sqs")
    dead = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
    urls = [
        dead,
        sqs.create_queue(
            QueueName=unique("redriven"),
            Attributes={
                "RedrivePolicy": json.dumps(
                    {
                        "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
                        "maxReceiveCount": 3,
                    }
                ),
                "DelaySeconds": "1",
            },
        )["QueueUrl"],
        sqs.create_queue(
            QueueName=unique("ordered") + ".fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )["QueueUrl"],
        sqs.create_queue(
            QueueName=unique("sealed"), Attributes={"KmsMasterKeyId": "alias/aws/sqs"}
        )["QueueUrl"],
    ]
    for url in urls:
        for i in range(3):
            extra = {"MessageGroupId": "g"} if url.endswith(".fifo") else {}
            sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", **extra)
    sqs.receive_message(QueueUrl=urls[2], MaxNumberOfMessages=1)
    queues = {
        name: queue
        for regions in sqs_backends.values()
        for backend in regions.values()
        for name, queue in backend.queues.items()
    }
    counted = 0
    moto_count = Queue.approximate_number_of_messages

    def count(queue: Any) -> int:
        nonlocal counted
        counted += 1
        return int(moto_count.fget(queue))  # type: ignore[attr-defined]

    for url in urls:
        queue = queues[url.rsplit("/", 1)[1]]
        ours = dict(queue.attributes)
        theirs = moto_speed._originals["queue_attributes"].fget(queue)
        assert ours == theirs
        assert list(ours) == list(theirs)
        everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        assert everything["Attributes"]["ApproximateNumberOfMessages"] == str(
            theirs["ApproximateNumberOfMessages"]
        )
    # Sending a message reads no count of the queue's messages.
    Queue.approximate_number_of_messages = property(count)  # type: ignore[assignment,method-assign]
    try:
        sqs.send_message(QueueUrl=urls[1], MessageBody="one more")
        sqs.send_message(QueueUrl=urls[2], MessageBody="one more", MessageGroupId="g")
        assert counted == 0
        sqs.get_queue_attributes(QueueUrl=urls[1], AttributeNames=["ApproximateNumberOfMessages"])
        assert counted == 2  # moto's GetQueueAttributes reads the attribute twice
    finally:
        Queue.approximate_number_of_messages = moto_count  # type: ignore[method-assign]


def _moto_queue(url: str) -> Any:
    """moto's model of the queue at `url`."""
    from moto.sqs.models import sqs_backends

    name = url.rsplit("/", 1)[1]
    return next(
        backend.queues[name]
        for regions in sqs_backends.values()
        for backend in regions.values()
        if name in backend.queues
    )


def test_a_delete_finds_its_message_by_receipt_handle_without_walking_the_queue(
    platform: LocalPlatform,
) -> None:
    from moto.sqs.models import Message

    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(QueueName=unique("backlog"))["QueueUrl"]
    other = sqs.create_queue(QueueName=unique("elsewhere"))["QueueUrl"]
    for batch in range(50):  # a backlog of 500
        entries = [{"Id": str(i), "MessageBody": f"m{batch}-{i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sqs.send_message(QueueUrl=other, MessageBody="theirs")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
    handles = [m["ReceiptHandle"] for m in received["Messages"]]
    taken = {m["MessageId"] for m in received["Messages"]}
    looked_at = 0
    moto_check = Message.had_receipt_handle

    def counted(message: Any, handle: str) -> bool:
        nonlocal looked_at
        looked_at += 1
        return moto_check(message, handle)

    Message.had_receipt_handle = counted  # type: ignore[method-assign,assignment]
    try:
        deleted = sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)],
        )
    finally:
        Message.had_receipt_handle = moto_check  # type: ignore[method-assign]
    assert len(deleted["Successful"]) == 10
    assert not deleted.get("Failed")
    # moto walked all 500 twice a delete; the handle finds the message (and the journal's
    # record of what went asks it once more).
    assert looked_at <= 2 * len(handles)
    left = _moto_queue(url)._messages
    assert len(left) == 490
    assert not taken & {m.id for m in left}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[0])  # again: nothing, as moto
    assert len(_moto_queue(url)._messages) == 490

    # A handle moto never gave, or another queue's, is refused as moto refuses it; the other
    # queue's message stays where it is.
    theirs = sqs.receive_message(QueueUrl=other, VisibilityTimeout=60)["Messages"][0]
    for handle in ("not-a-handle", theirs["ReceiptHandle"]):
        with pytest.raises(ClientError) as refused:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        assert refused.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    assert [m.id for m in _moto_queue(other)._messages] == [theirs["MessageId"]]

    # A message received again has a new handle; its first one still deletes it (as moto).
    again = sqs.create_queue(QueueName=unique("again"))["QueueUrl"]
    sqs.send_message(QueueUrl=again, MessageBody="twice")
    first = sqs.receive_message(QueueUrl=again, VisibilityTimeout=0)["Messages"][0]
    second = sqs.receive_message(QueueUrl=again, VisibilityTimeout=60)["Messages"][0]
    assert first["MessageId"] == second["MessageId"]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    sqs.delete_message(QueueUrl=again, ReceiptHandle=first["ReceiptHandle"])
    assert _moto_queue(again)._messages == []
    sqs.delete_message(QueueUrl=again, ReceiptHandle=second["ReceiptHandle"])

    # A handle the index does not know (a message restored after a restart) is moto's walk.
    sqs.send_message(QueueUrl=again, MessageBody="restored")
    restored = sqs.receive_message(QueueUrl=again, VisibilityTimeout=60)["Messages"][0]
    moto_speed._receipts.pop(restored["ReceiptHandle"])
    sqs.delete_message(QueueUrl=again, ReceiptHandle=restored["ReceiptHandle"])
    assert _moto_queue(again)._messages == []

    # A FIFO group's next message is delivered once the one in flight is deleted.
    fifo = sqs.create_queue(
        QueueName=unique("group") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
    one = sqs.receive_message(QueueUrl=fifo, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in one] == ["one"]
    assert "Messages" not in sqs.receive_message(QueueUrl=fifo, VisibilityTimeout=60)
    sqs.delete_message(QueueUrl=fifo, ReceiptHandle=one[0]["ReceiptHandle"])
    two = sqs.receive_message(QueueUrl=fifo, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in two] == ["two"]


def test_a_queue_s_visible_messages_are_those_moto_lists_read_against_one_clock(
    platform: LocalPlatform,
) -> None:
    sqs = emulator_client(platform, "sqs")
    url = sqs.create_queue(QueueName=unique("visible"))["QueueUrl"]
    for i in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=f"now-{i}")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"later-{i}", DelaySeconds=60)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    assert len(received["Messages"]) == 2
    queue = _moto_queue(url)
    clock = moto_speed.unix_time_millis  # type: ignore[attr-defined]
    readings = 0

    def read_clock(dt: Any = None) -> float:
        nonlocal readings
        readings += 1
        return clock(dt)

    moto_speed.unix_time_millis = read_clock  # type: ignore[attr-defined]
    try:
        ours = queue.messages
    finally:
        moto_speed.unix_time_millis = clock  # type: ignore[attr-defined]
    assert readings == 1  # moto reads it twice a message
    assert ours == moto_speed._originals["visible_messages"].fget(queue)
    assert sorted(m.body for m in ours) == sorted(
        {f"now-{i}" for i in range(6)} - {m["Body"] for m in received["Messages"]}
    )


def test_a_stream_drops_what_every_poller_has_delivered_but_its_last_few(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    streams = emulator_client(platform, "dynamodbstreams")
    table, arn, shard = streamed_table(platform, "NEW_IMAGE")
    monkeypatch.setattr(moto_speed, "KEEP_READ_STREAM_RECORDS", 2)

    def kept() -> list[str]:
        start = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return [
            r["dynamodb"]["Keys"]["pk"]["S"]
            for r in streams.get_records(ShardIterator=start)["Records"]
        ]

    def write(*keys: str) -> list[str]:
        for key in keys:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})
        return kept()

    moto_speed.reading_stream(table, "fast")
    moto_speed.reading_stream(table, "slow")
    try:
        assert write("a", "b", "c", "d") == ["a", "b", "c", "d"]  # nobody has delivered any
        sequence = dict(zip("abcd", sequence_numbers(streams, arn, shard), strict=True))
        moto_speed.delivered_from_stream(table, "fast", sequence["d"])
        assert write("e") == ["a", "b", "c", "d", "e"]  # "slow" has not read them yet
        moto_speed.delivered_from_stream(table, "slow", sequence["c"])
        # Both have delivered up to "c": of those the last 2 are kept, and all they have not.
        assert write("f") == ["b", "c", "d", "e", "f"]
        moto_speed.stopped_reading_stream(table, "slow")
        assert write("g") == ["c", "d", "e", "f", "g"]  # "fast" alone: up to "d", and 2 more
    finally:
        moto_speed.stopped_reading_stream(table, "fast")
        moto_speed.stopped_reading_stream(table, "slow")


def shard_of(streams: Any, arn: str) -> str:
    shard: str = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return shard


def sequence_numbers(streams: Any, arn: str, shard: str) -> list[str]:
    start = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [
        r["dynamodb"]["SequenceNumber"] for r in streams.get_records(ShardIterator=start)["Records"]
    ]


def test_a_write_wakes_only_the_pollers_of_its_own_table(platform: LocalPlatform) -> None:
    dynamodb = emulator_client(platform, "dynamodb")
    written, _, _ = streamed_table(platform, "NEW_IMAGE")
    quiet, _, _ = streamed_table(platform, "NEW_IMAGE")
    before = moto_speed.stream_writes(written), moto_speed.stream_writes(quiet)
    dynamodb.put_item(TableName=written, Item={"pk": {"S": "w"}})
    after = moto_speed.stream_writes(written), moto_speed.stream_writes(quiet)
    assert before[0] is not None
    assert after == (before[0] + 1, before[1])


def test_the_platform_s_streams_keep_few_records_once_their_pollers_delivered_them(
    api: Api, platform: LocalPlatform
) -> None:
    sku = stocked_sku(api, quantity=1000)
    shopper = unique("stream-trim")
    changes = 2 * moto_speed.KEEP_READ_STREAM_RECORDS
    for i in range(changes):  # each a change of the cart
        changed = api.put(f"/cart/items/{sku}", json={"quantity": 1 + i % 3}, user=shopper)
        if changed.status_code == 404:  # the line is not there yet
            changed = api.post("/cart/items", json={"sku": sku, "quantity": 1}, user=shopper)
        assert changed.status_code == 200, changed.text
    platform.wait_until_idle(30)
    dynamodb = emulator_client(platform, "dynamodb")
    streams = emulator_client(platform, "dynamodbstreams")
    cart = platform.provisioner.refs["CartTable"]
    arn = dynamodb.describe_table(TableName=cart)["Table"]["LatestStreamArn"]
    kept = sequence_numbers(streams, arn, shard_of(streams, arn))
    # Trimmed as records are added: those written after the pollers' last delivery stay too.
    assert 0 < len(kept) < moto_speed.KEEP_READ_STREAM_RECORDS + 20 < changes


def test_what_the_platform_built_at_start_is_left_out_of_the_collector_s_passes(
    platform: LocalPlatform,
) -> None:
    # Frozen: a full collection walked all of it (about 770,000 objects, a 190 ms pause).
    assert gc.get_freeze_count() > 100_000
    tracked = {id(o) for o in gc.get_objects()}  # every generation but the frozen one
    assert id(platform.functions) not in tracked
    assert id(platform.provisioner) not in tracked


def test_moto_lists_the_items_it_still_holds_without_keeping_the_others_alive(
    platform: LocalPlatform,
) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    dynamodb = emulator_client(platform, "dynamodb")
    table, _, _ = streamed_table(platform, "NEW_IMAGE")
    for i in range(50):  # each request makes items of its own: copies, answers
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "same"}, "n": {"N": str(i)}})
        dynamodb.get_item(TableName=table, Key={"pk": {"S": "same"}})
    gc.collect()
    tracked: Any = Item.instances_tracked  # type: ignore[attr-defined]  # set by moto's metaclass
    listed = [i for i in tracked if "pk" in i.attrs and i.attrs["pk"].value == "same"]
    # The stored item is still listed (moto's dashboard sees it); the 99 others are gone.
    stored = [i for i in listed if i.attrs["n"].value == "49"]
    assert stored
    assert len(listed) < 10


# ---------------------------------------------------------------------- Step Functions -> Lambda
def _answers(response: dict[str, Any]) -> tuple[int, str | None, Any]:
    return (
        response["StatusCode"],
        response.get("FunctionError"),
        json.loads(response["Payload"].read()),
    )


@pytest.fixture
def lambda_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Lambda API actions moto's server answers from here on."""
    seen: list[str] = []
    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        if getattr(self, "service_name", "") == "awslambda":
            seen.append(str(self._get_action()))
        return original(self)

    monkeypatch.setattr(BaseResponse, "call_action", call_action)
    return seen


def test_a_task_invokes_a_template_function_in_process_with_the_answer_of_moto_s_lambda_api(
    platform: LocalPlatform, lambda_requests: list[str]
) -> None:
    lambda_api = emulator_client(platform, "lambda")
    task_client = moto_speed._client_for(REGION, "lambda")
    assert isinstance(task_client, lambda_seam.TaskLambdaClient)
    unsigned_api_call = {"httpMethod": "GET", "path": "/checkout/chk-x", "headers": {}}
    cases = [
        ("GetCheckoutFunction", unsigned_api_call),  # answers: 401 without a token
        ("RecordCheckoutOutcomeFunction", {}),  # raises: no checkout in the event
    ]
    for logical_id, event in cases:
        name = platform.functions.names[logical_id]
        payload = json.dumps(event).encode()
        over_http = _answers(lambda_api.invoke(FunctionName=name, Payload=payload))
        lambda_requests.clear()
        in_process = _answers(task_client.invoke(FunctionName=name, Payload=payload))
        assert lambda_requests == []  # moto's Lambda API was not asked
        assert in_process[:2] == over_http[:2]
        assert in_process[2].keys() == over_http[2].keys()
        assert in_process[2].get("errorType") == over_http[2].get("errorType")
    assert _answers(task_client.invoke(FunctionName=platform.functions.names[cases[1][0]]))[1] == (
        "Unhandled"
    )
    lambda_requests.clear()
    other = {"FunctionName": "not-a-function-of-the-template", "Payload": b"{}"}
    assert task_client.invoke(**other)["StatusCode"] == lambda_api.invoke(**other)["StatusCode"]
    assert lambda_requests == ["Invoke", "Invoke"]  # a function the template lacks: moto's API


def test_a_task_s_failing_function_is_retried_and_caught_by_its_error_type_in_process(
    platform: LocalPlatform, lambda_requests: list[str]
) -> None:
    arn = (
        f"arn:aws:lambda:{REGION}:123456789012:function:"
        + (platform.functions.names["RecordCheckoutOutcomeFunction"])
    )
    sfn, machine_arn = machine(
        platform,
        {
            "Comment": unique("lambda-in-process"),
            "StartAt": "Record",
            "States": {
                "Record": {
                    "Type": "Task",
                    "Resource": arn,
                    "Retry": [
                        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}
                    ],
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    lambda_requests.clear()
    described, events = run(sfn, machine_arn, {})
    assert described["status"] == "SUCCEEDED"
    error = json.loads(described["output"])["error"]
    assert error["Error"] not in ("", "States.TaskFailed", "Lambda.Unknown")  # the handler's type
    assert events.count("LambdaFunctionFailed") == 2  # the attempt and its retry
    assert lambda_requests == []


# ---------------------------------------------------------------------- per request
def test_moto_finds_an_action_s_method_in_a_list_made_once_per_class() -> None:
    listed = moto_speed._method_names(DynamoHandler)
    assert listed == method_names_from_class(DynamoHandler)
    assert {"get_item", "transact_write_items", "call_action"} <= set(listed)
    assert moto_speed._method_names(DynamoHandler) is listed  # made once, then kept


def test_request_ids_are_drawn_from_moto_s_alphabet_at_their_length() -> None:
    ids = {mock_random.get_random_string(length=52) for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 52 and i.isalnum() and i.isascii() for i in ids)
    assert any(c.isdigit() for i in ids for c in i)
    assert any(c.islower() for i in ids for c in i)
    lower = mock_random.get_random_string(length=8, include_digits=False, lower_case=True)
    assert lower.isalpha()
    assert lower.islower()
    assert len(lower) == 8


def _signed(url: str) -> AWSRequest:
    request = AWSRequest(method="POST", url=url, data=b'{"TableName": "t"}', headers={})
    credentials = Credentials("AKIDLOCAL", "secret", "session-token")
    SigV4Auth(credentials, "dynamodb", "eu-west-1").add_auth(request)
    return request


def test_requests_to_moto_carry_its_scope_unsigned_and_requests_elsewhere_are_signed(
    platform: LocalPlatform,
) -> None:
    to_moto = _signed(platform.endpoint + "/")
    elsewhere = _signed("https://dynamodb.eu-west-1.amazonaws.com/")
    for request in (to_moto, elsewhere):
        authorization = request.headers["Authorization"]
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDLOCAL/")
        assert "/eu-west-1/dynamodb/aws4_request, SignedHeaders=" in authorization
        assert request.headers["X-Amz-Security-Token"] == "session-token"
        assert request.headers["X-Amz-Date"]
    assert to_moto.headers["Authorization"].endswith("Signature=" + moto_speed.UNCHECKED_SIGNATURE)
    signature = elsewhere.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert len(signature) == 64
    assert signature != moto_speed.UNCHECKED_SIGNATURE
    # moto still reads region, service and account from it: the platform's own tables answer.
    assert emulator_client(platform, "dynamodb").list_tables()["TableNames"]


# ---------------------------------------------------------------------- SQS pollers
def _queue(platform: LocalPlatform, fifo: bool = False) -> tuple[Any, str, str]:
    sqs = emulator_client(platform, "sqs")
    name = unique("speed-queue") + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def test_a_queue_wait_ends_once_a_receive_would_hand_out_a_message(
    platform: LocalPlatform,
) -> None:
    sqs, url, arn = _queue(platform)
    assert moto_speed.wait_for_queue_messages(arn, 0.1) is False  # empty
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        waiting = pool.submit(moto_speed.wait_for_queue_messages, arn, 30.0)
        time.sleep(0.2)
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        assert waiting.result() is True
        assert time.monotonic() - started < 25  # woken by the send, not by the timeout
    received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"]
    assert moto_speed.wait_for_queue_messages(arn, 0.1) is False  # in flight: none to hand out
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    assert moto_speed.wait_for_queue_messages(arn, 0.1) is True  # visible again
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    assert moto_speed.wait_for_queue_messages(arn, 0.1) is False  # delayed: not yet
    _sqs, _url, fifo_arn = _queue(platform, fifo=True)
    assert moto_speed.wait_for_queue_messages(fifo_arn, 0.1) is None  # FIFO: pollers poll
    assert moto_speed.wait_for_queue_messages(arn + "-absent", 0.1) is None


class _Recipient:
    """Stands in for the functions a poller delivers to: keeps each batch (a message's body, a
    stream record's item key), and returns once `gate` is open."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.delivered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def invoke(self, _function: str, event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(
            [r["body"] if "body" in r else r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
        )
        self.delivered.set()
        assert self.gate.wait(15)
        return {"batchItemFailures": []}


def _answers_to(
    monkeypatch: pytest.MonkeyPatch, action: str, about: str, handler: type = BaseResponse
) -> list[dict[str, Any]]:
    """From now on, moto's answer to every `action` request whose body mentions `about`
    (`handler`: the service's response class, where moto_fidelity wraps its call_action)."""
    answers: list[dict[str, Any]] = []
    original = handler.call_action  # type: ignore[attr-defined]

    def call_action(self: Any) -> Any:
        response = original(self)
        if self._get_action() == action and about in str(self.body or ""):
            answers.append(json.loads(response[2] or "{}"))
        return response

    monkeypatch.setattr(handler, "call_action", call_action)
    return answers


def test_an_idle_poller_asks_nothing_and_a_sent_message_is_delivered(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shop_local.event_sources import SqsPoller

    sqs, url, arn = _queue(platform)
    receives = _answers_to(monkeypatch, "ReceiveMessage", url.rsplit("/", 1)[-1])
    recipient = _Recipient()
    poller = SqsPoller(
        recipient,  # type: ignore[arg-type]
        "QuietFunction",
        url,
        arn,
        batch_size=10,
        batching_window=1.0,
        max_concurrency=2,
        report_failures=True,
    )
    poller.start()
    try:
        time.sleep(2.5)  # two pollers, idle: more than two of moto's one-second long polls
        assert receives == []
        sqs.send_message(QueueUrl=url, MessageBody="first")
        assert recipient.delivered.wait(15)
        assert recipient.batches == [["first"]]
        assert 1 <= len(receives) <= 2  # the receive, and at most one more in the window
    finally:
        poller.stop()
        poller.join(5)
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


def test_a_message_is_received_by_one_of_the_queue_s_pollers_not_by_each_of_them(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shop_local.event_sources import SqsPoller

    sqs, url, arn = _queue(platform)
    receives = _answers_to(monkeypatch, "ReceiveMessage", url.rsplit("/", 1)[-1])
    recipient = _Recipient()
    poller = SqsPoller(
        recipient,  # type: ignore[arg-type]
        "BusyFunction",
        url,
        arn,
        batch_size=10,
        max_concurrency=5,  # five pollers, all waiting for the queue
        report_failures=True,
    )
    poller.start()
    try:
        for number in range(3):
            recipient.delivered.clear()
            sqs.send_message(QueueUrl=url, MessageBody=f"m{number}")
            assert recipient.delivered.wait(15)
        time.sleep(0.5)
        assert recipient.batches == [["m0"], ["m1"], ["m2"]]
        # One receive a message, none that came back empty.
        assert [len(answer.get("Messages", [])) for answer in receives] == [1, 1, 1]
    finally:
        poller.stop()
        poller.join(5)


def test_a_stream_poller_that_read_the_last_record_waits_for_the_next_write_to_read_again(
    platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shop_local.event_sources import StreamPoller

    dynamodb = emulator_client(platform, "dynamodb")
    table, arn, _shard = streamed_table(platform, "NEW_IMAGE")
    recipient = _Recipient()
    # No reads at idle for this poller alone: a wait made longer for every poller kept the
    # platform's own waiting a minute after the test (the next test's wait_until_idle failed).
    poller = StreamPoller(recipient, "StreamFunction", arn, batch_size=2, idle_wait=60.0)  # type: ignore[arg-type]
    poller.start()
    try:
        assert poller.idle.wait(15)  # its first read, before any write
        reads = _answers_to(monkeypatch, "GetRecords", table, DynamoDBStreamsHandler)
        recipient.gate.clear()  # the first batch's invocation runs until the next writes land
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "one"}})
        assert recipient.delivered.wait(15)
        dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": k}}}} for k in "abc"]}
        )
        recipient.gate.set()
        deadline = time.monotonic() + 15
        while len(recipient.batches) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert recipient.batches == [["one"], ["a", "b"], ["c"]]
        # A full answer (two of two) is followed by a read at once, a short one by a wait for
        # the next write: no read came back empty.
        assert [len(answer["Records"]) for answer in reads] == [1, 2, 1]
    finally:
        poller.stop()
        poller.join(5)


HEADER_BLOCKS = [
    b"Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
    b"Content-Length: 42\r\n\r\n",
    b"x-dup: 1\r\nx-dup: 2\r\nEmpty:\r\nSpaced:   \t value with trailing space  \r\n\r\n",
    b"Unix: line endings\nAre: fine\n\n",
    b"Folded: first\r\n  second line\r\nNext: x\r\n\r\n",  # a folded header: the e-mail parser's
    b"Stray: a\rb\r\nNext: y\r\n\r\n",  # a CR inside a value splits the line for it
    b"No colon here\r\nAfter: z\r\n\r\n",  # a defect, and what follows is the payload
    b"Bad Name: x\r\nOther: y\r\n\r\n",
    b"From someone\r\nSubject: x\r\n\r\n",
    b":empty-name\r\n\r\n",
    b"Latin: caf\xe9\r\n\r\n",
    b"Cut: off before the blank line\r\n",  # the stream ended inside the headers
    b"\r\n",  # no headers at all
]


@pytest.mark.parametrize("block", HEADER_BLOCKS, ids=[str(i) for i in range(len(HEADER_BLOCKS))])
def test_headers_are_parsed_into_the_message_the_e_mail_parser_makes(block: bytes) -> None:
    parsed = moto_speed._parse_headers(io.BytesIO(block + b"the body"))
    original = moto_speed._originals["parse_headers"](io.BytesIO(block + b"the body"))
    assert type(parsed) is type(original)
    assert _comparable(parsed) == _comparable(original)


def _comparable(message: Any) -> dict[str, Any]:
    """A message's state, with its defects by type (defect objects compare by identity)."""
    return {**vars(message), "defects": [type(d) for d in message.defects]}


def test_plain_headers_do_not_go_through_the_e_mail_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: Any) -> Any:
        raise AssertionError("the e-mail parser was asked")

    monkeypatch.setattr(http.client, "_parse_header_lines", refuse)
    for block in HEADER_BLOCKS[:3]:
        assert moto_speed._parse_headers(io.BytesIO(block)).get("x-amz-target") in (
            None,
            "DynamoDB_20120810.GetItem",
        )


def test_the_servers_and_clients_of_this_process_parse_headers_this_way() -> None:
    assert http.client.parse_headers is moto_speed._parse_headers
