"""X-Ray tracing, as Lambda runs it: a handler in a process that looks like Lambda's (its
environment, a trace header), sending its segments over UDP to a daemon address where this
test listens, as the X-Ray daemon would. Its AWS calls go to the suite's platform."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from typing import Any, NamedTuple

from search_support import create_product, until_indexed, word

from helpers import Api
from shop_local.platform import LocalPlatform

TRACE_ID = "1-67a1b2c3-0123456789abcdef01234567"
# Runs `handler(event, context)` of each (code folder, module, event) as the Lambda runtime would.
RUNTIME = textwrap.dedent(
    """
    import importlib.util, json, sys, types
    for code_uri, module_file, event in json.loads(sys.argv[1]):
        spec = importlib.util.spec_from_file_location(module_file, code_uri + "/" + module_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        context = types.SimpleNamespace(
            function_name="shop-traced", memory_limit_in_mb=512, aws_request_id="req-1",
            invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:shop-traced",
            get_remaining_time_in_millis=lambda: 10_000,
        )
        print("STATUS", module.handler(event, context)["statusCode"], flush=True)
    """
)


def proxy_get(path: str, resource: str, params: dict[str, str], query: dict[str, str]) -> Any:
    return {
        "httpMethod": "GET",
        "path": path,
        "resource": resource,
        "pathParameters": params or None,
        "queryStringParameters": query or None,
        "headers": {},
        "multiValueHeaders": {},
        "requestContext": {"requestId": "api-req-1", "stage": "local"},
        "body": None,
        "isBase64Encoded": False,
    }


class Run(NamedTuple):
    statuses: list[int]
    logs: list[dict[str, Any]]  # what the function logged (JSON lines on stdout, as on Lambda)
    segments: list[dict[str, Any]]  # what reached the daemon


def run_traced(platform: LocalPlatform, calls: list[tuple[str, dict[str, Any]]]) -> Run:
    """Run each (function, event) in a Lambda-like process."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    address = f"127.0.0.1:{daemon.getsockname()[1]}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("_X_AMZN")}
    runs = []
    for function, event in calls:
        spec = platform.functions.specs[function]
        variables = platform.functions.environments[function]
        environment.update({k: str(v) for k, v in variables.items()})
        runs.append([str(spec.code_uri), spec.handler.rsplit(".", 1)[0] + ".py", event])
    environment.update(
        LAMBDA_TASK_ROOT=str(spec.code_uri),
        AWS_LAMBDA_FUNCTION_NAME="shop-traced",
        AWS_XRAY_DAEMON_ADDRESS=address,
        AWS_XRAY_CONTEXT_MISSING="RUNTIME_ERROR",  # a call outside the trace fails the run
        _X_AMZN_TRACE_ID=f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
    )
    done = subprocess.run(
        [sys.executable, "-c", RUNTIME, json.dumps(runs)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    statuses = [int(line.split()[1]) for line in lines if line.startswith("STATUS ")]
    logs = [json.loads(line) for line in lines if line.startswith("{")]
    segments = []
    try:
        while True:
            datagram = daemon.recv(65_536).decode()
            header, body = datagram.split("\n", 1)
            assert json.loads(header) == {"format": "json", "version": 1}
            segments.append(json.loads(body))
    except TimeoutError:
        pass
    finally:
        daemon.close()
    return Run(statuses, logs, segments)


def names(segments: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []

    def walk(entity: dict[str, Any]) -> None:
        found.append(entity["name"])
        for child in entity.get("subsegments", []):
            walk(child)

    for segment in segments:
        walk(segment)
    return found


def test_a_product_read_and_a_search_are_traced_with_their_dynamodb_and_search_calls(
    api: Api, platform: LocalPlatform
) -> None:
    name = word()
    product = create_product(api, name)
    until_indexed(api, name, {product["product_id"]})
    product_id = product["product_id"]
    run = run_traced(
        platform,
        [
            (
                "GetProductFunction",
                proxy_get(
                    f"/products/{product_id}",
                    "/products/{product_id}",
                    {"product_id": product_id},
                    {},
                ),
            ),
            ("SearchProductsFunction", proxy_get("/search", "/search", {}, {"q": name})),
        ],
    )
    assert run.statuses == [200, 200], run
    segments = run.segments
    assert segments, "no segment reached the daemon"
    assert {segment["trace_id"] for segment in segments} == {TRACE_ID}
    seen = names(segments)
    assert seen.count("## handler") == 2, seen  # each invocation
    # botocore patched: the product's GetItem is a subsegment of its own.
    operations = {s.get("aws", {}).get("operation") for s in segments if s["name"] == "dynamodb"}
    assert "GetItem" in operations, segments
    assert "## search" in seen, seen  # the search engine, through its circuit
    # Responses are not put in the trace: they can hold a shopper's personal data.
    assert not any("handler response" in json.dumps(segment) for segment in segments)


def test_a_handlers_logs_carry_the_lambda_context_and_the_correlation_id(
    platform: LocalPlatform,
) -> None:
    unknown = "prod-" + word()
    event = proxy_get(f"/products/{unknown}", "/products/{product_id}", {"product_id": unknown}, {})
    event["headers"] = {"X-Correlation-Id": "corr-traced-1"}
    run = run_traced(platform, [("GetProductFunction", event)])
    assert run.statuses == [404]
    (refused,) = [log for log in run.logs if log["message"] == "request refused"]
    assert refused["function_name"] == "shop-traced"
    assert refused["function_request_id"] == "req-1"
    assert refused["cold_start"] is True
    assert refused["correlation_id"] == "corr-traced-1"
    assert refused["xray_trace_id"] == TRACE_ID
