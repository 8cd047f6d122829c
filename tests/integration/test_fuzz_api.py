"""A bounded schemathesis run against the session platform's /openapi.json: every operation,
with a shopper's token (an admin's on /admin routes). The API never answers 5xx, every answer
is what the document says (status, content type, schema), and a refused (4xx) request writes
nothing: each DynamoDB item the refused request's function wrote to is as it was before, and
it sent no message, event or execution."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from helpers import Api, emulator_client
from shop_local.functions import current_function
from shop_local.platform import LocalPlatform

# Small enough for about a minute on 2 cores; SHOP_FUZZ_EXAMPLES=50 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("SHOP_FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Side effects that cannot be undone by a later write: a refused request makes none of them.
SENDS = {
    ("sqs", "SendMessage"),
    ("sqs", "SendMessageBatch"),
    ("events", "PutEvents"),
    ("stepfunctions", "StartExecution"),
}


@dataclass
class WriteWatch:
    """The writes one function makes while a request runs: each DynamoDB item's image before
    the function first wrote to it, and the sends it made."""

    client: Any  # the emulator's DynamoDB, for the images
    function: str | None = None
    before: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    sends: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key_names: dict[str, list[str]] = field(default_factory=dict)

    def start(self, function: str) -> None:
        with self.lock:
            self.function, self.before, self.sends = function, {}, []

    def stop(self) -> None:
        with self.lock:
            self.function = None

    def observe(self, client: Any, name: str, params: Any) -> None:
        """Called before every SDK call of the process; keeps those of the watched function."""
        if self.function is None or current_function() != self.function:
            return
        service = client.meta.service_model.service_name
        if (service, name) in SENDS:
            with self.lock:
                self.sends.append(f"{service}:{name}")
        if service != "dynamodb" or name not in DYNAMODB_WRITES:
            return
        for table, key in self._keys(name, params):
            ref = (table, json.dumps(key, sort_keys=True))
            with self.lock:
                if ref in self.before:
                    continue
            image = self.read(table, key)
            with self.lock:
                self.before.setdefault(ref, image)

    def _keys(self, name: str, params: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if name in ("UpdateItem", "DeleteItem"):
            yield params["TableName"], params["Key"]
        elif name == "PutItem":
            yield params["TableName"], self._key_of(params)
        elif name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, item),) = entry.items()
                if kind == "Put":
                    yield item["TableName"], self._key_of(item)
                elif kind in ("Update", "Delete"):
                    yield item["TableName"], item["Key"]
        elif name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        put = {"TableName": table, "Item": request["PutRequest"]["Item"]}
                        yield table, self._key_of(put)
                    else:
                        yield table, request["DeleteRequest"]["Key"]

    def _key_of(self, put: Any) -> dict[str, Any]:
        table = put["TableName"]
        if table not in self.key_names:
            described = contextvars.Context().run(self.client.describe_table, TableName=table)
            self.key_names[table] = [k["AttributeName"] for k in described["Table"]["KeySchema"]]
        return {name: put["Item"][name] for name in self.key_names[table]}

    def changed(self) -> list[str]:
        """The items that differ from their image before the request, and the sends."""
        found = list(self.sends)
        for (table, key), image in self.before.items():
            if self.read(table, json.loads(key)) != image:
                found.append(f"{table} {key}")
        return found

    def read(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        # In a context of its own, outside the function: the IAM check's record of what each
        # function calls (shop_local.aws_calls) must not count the watch's reads.
        answer = contextvars.Context().run(
            self.client.get_item, TableName=table, Key=key, ConsistentRead=True
        )
        item: dict[str, Any] | None = answer.get("Item")
        return item


@pytest.fixture
def watch(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> WriteWatch:
    watching = WriteWatch(emulator_client(platform, "dynamodb"))
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, name: str, params: Any) -> Any:
        watching.observe(client, name, params)
        return original(client, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return watching


@dataclass
class Findings:
    examples: int = 0
    refused_writes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def test_fuzzing_every_operation_finds_no_server_error_no_drift_and_no_write_on_refusal(
    api: Api, platform: LocalPlatform, watch: WriteWatch
) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.url}/openapi.json")
    functions = {(r.method, r.path): r.function for r in platform.template.routes()}
    shopper = api.token("fuzz-shopper", ttl=3600)
    admin = api.token("fuzz-admin", admin=True, ttl=3600)
    findings = Findings()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    for operation in operations:
        for mode in GenerationMode:  # valid input, then input that breaks the schema
            fuzz(
                operation.as_strategy(mode),
                platform,
                watch,
                findings,
                token=admin if "/admin" in operation.path else shopper,
                function=functions[(operation.method.upper(), operation.path)],
            )
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {len(operations)} operations, {findings.examples} examples, "
        f"{findings.refused_writes} refused writes checked, {elapsed:.1f}s, "
        f"statuses {dict(sorted(findings.statuses.items()))}, {len(findings.problems)} findings"
    )
    assert findings.problems == []
    assert findings.examples > 2 * len(operations)  # it ran: every operation, both modes
    assert findings.refused_writes > 0  # and the write watch had refusals to check


def fuzz(
    cases: Any,
    platform: LocalPlatform,
    watch: WriteWatch,
    findings: Findings,
    *,
    token: str,
    function: str,
) -> None:
    """Up to MAX_EXAMPLES requests of one operation, each checked; findings are collected, so
    that one run reports all of them."""

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a finding reproduces
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, keep the bound
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        findings.examples += 1
        unsafe = case.method.upper() in UNSAFE
        if unsafe:
            watch.start(function)
        try:
            response = case.call(
                base_url=platform.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
        finally:
            watch.stop()
        status = response.status_code
        findings.statuses[status] = findings.statuses.get(status, 0) + 1
        label = f"{case.method.upper()} {case.formatted_path} -> {status}"
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:  # schemathesis raises one group of all it found
            findings.problems.append(f"{label}: {str(failure).strip()[:600]}")
        if unsafe and 400 <= status < 500:
            findings.refused_writes += 1
            changed = watch.changed()
            if changed:
                findings.problems.append(f"{label} was refused but wrote {changed}")

    with contextlib.suppress(Unsatisfiable):  # nothing to break: no parameters, no body
        run()
