"""The CPU one emulator request costs, both ends in one process as on the local platform: a
boto3 client (signing, serializing, HTTP, parsing) and moto's server (HTTP, Flask, moto's
dispatch, the operation), over loopback with a kept connection.

moto's server on a thread with `shop_local.moto_speed` installed (as the platform runs it;
`SHOP_MOTO_SPEED=0` leaves moto as it is), one table with one item, then `--requests` GetItem
and half as many UpdateItem (`SET v = v + :one`), `--rounds` times; process CPU per request
(`resource.getrusage`), median of the rounds.

    .venv/bin/python bench/emulator_request_cost.py [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import TYPE_CHECKING

from shop import aws
from shop_local import moto_speed
from shop_local.platform import free_port, use_emulator

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log, as the platform
    port = free_port()
    use_emulator(f"http://127.0.0.1:{port}")
    moto_speed.install()
    server = moto_speed.MotoServer("127.0.0.1", port)
    server.start()
    try:
        dynamodb = aws.client("dynamodb")
        dynamodb.create_table(
            TableName="cost",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        key = {"pk": {"S": "a"}}
        dynamodb.put_item(TableName="cost", Item={**key, "v": {"N": "1"}, "name": {"S": "x" * 200}})
        gets: list[float] = []
        updates: list[float] = []
        for _ in range(args.rounds):
            started = common.cpu_seconds()
            for _ in range(args.requests):
                dynamodb.get_item(TableName="cost", Key=key)
            gets.append((common.cpu_seconds() - started) / args.requests * 1000)
            started = common.cpu_seconds()
            for _ in range(args.requests // 2):
                dynamodb.update_item(
                    TableName="cost",
                    Key=key,
                    UpdateExpression="SET v = v + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
            updates.append((common.cpu_seconds() - started) / (args.requests // 2) * 1000)
            time.sleep(0.1)
        print(f"moto_speed installed: {moto_speed.installed()}")
        print(f"GetItem rounds, ms CPU each: {', '.join(f'{g:.3f}' for g in gets)}")
        print(f"UpdateItem rounds, ms CPU each: {', '.join(f'{u:.3f}' for u in updates)}")
        print(
            f"median: GetItem {statistics.median(gets):.3f} ms, "
            f"UpdateItem {statistics.median(updates):.3f} ms of CPU a request"
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
