"""Which AWS actions each function's code really calls, recorded while the platform runs.

One hook for the whole process: `botocore.client.BaseClient._make_api_call`, the method every
botocore client goes through, whoever made the client (`shop.aws`, boto3 resources, the clients
Powertools' idempotency creates for itself). A call made while a function runs on the thread
(`shop_local.functions.current_function()`) is recorded as (function, IAM action, resource ARN);
calls of test code and of the platform itself belong to no function and are not recorded.

The IAM action is the one AWS authorizes, which is not always the API operation's name: a
DynamoDB transaction is authorized item by item (`dynamodb:PutItem`, `dynamodb:UpdateItem`, ...),
an SQS batch by its single-message action. The resource is derived from the request: a table (or
`table/T/index/I` for an index read), a queue, a bus, a state machine or execution, a parameter,
a user pool. A task token names no resource: SendTask* calls are recorded against `TASK_TOKEN`,
which the IAM check reads as "the state machine that issued it".
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.client

from shop_local.functions import current_function
from shop_local.provision import ACCOUNT

TASK_TOKEN = "<task token>"
UNKNOWN = "<resource not derived>"
PARTITION = "aws"

# API operations authorized by another action of the same service.
_ACTION_OF = {
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("s3", "HeadObject"): "GetObject",  # HEAD needs read access to the object
}
# Items of a TransactWriteItems / TransactGetItems and the action each is authorized as.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# Frames of these packages are the SDK itself, not the code that made the call.
_SDK_MODULES = ("botocore", "boto3", "shop_local.aws_calls")


@dataclass(frozen=True)
class AwsCall:
    function: str  # the logical id of the function whose code made the call
    action: str  # the IAM action, e.g. "dynamodb:UpdateItem"
    resource: str  # the ARN it acted on, TASK_TOKEN, or UNKNOWN
    origin: str = ""  # the module that called the SDK (first frame outside botocore/boto3)

    def __str__(self) -> str:
        origin = f" (from {self.origin})" if self.origin else ""
        return f"{self.action} on {self.resource}{origin}"


class CallRecorder:
    """The calls seen so far, each (function, action, resource) once, with its first origin."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str, str], AwsCall] = {}

    def record(self, call: AwsCall) -> None:
        with self._lock:
            self._calls.setdefault((call.function, call.action, call.resource), call)

    def calls(self) -> list[AwsCall]:
        with self._lock:
            return sorted(self._calls.values(), key=lambda c: (c.function, c.action, c.resource))

    def of(self, function: str) -> list[AwsCall]:
        return [call for call in self.calls() if call.function == function]

    def forget(self, function: str) -> None:
        with self._lock:
            self._calls = {k: v for k, v in self._calls.items() if k[0] != function}


recorder = CallRecorder()
_original_make_api_call: Callable[..., Any] | None = None


def install() -> CallRecorder:
    """Start recording (idempotent); returns the process's recorder."""
    global _original_make_api_call
    if _original_make_api_call is None:
        original = botocore.client.BaseClient._make_api_call
        _original_make_api_call = original

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = current_function()
            if function is not None:
                origin = _origin()
                for action, resource in iam_requests(client, operation_name, api_params):
                    recorder.record(AwsCall(function, action, resource, origin))
            return original(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = _make_api_call
    return recorder


def uninstall() -> None:
    global _original_make_api_call
    if _original_make_api_call is not None:
        botocore.client.BaseClient._make_api_call = _original_make_api_call
        _original_make_api_call = None


def _origin() -> str:
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(_SDK_MODULES):
            return module
        frame = frame.f_back  # type: ignore[assignment]
    return ""


# ----------------------------------------------------------------------------- actions, ARNs
def iam_requests(client: Any, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes for one API call."""
    prefix = str(client.meta.service_model.signing_name)  # "states" for stepfunctions
    region = str(client.meta.region_name)
    arns = _Arns(region)
    derive = _DERIVERS.get(prefix)
    try:
        pairs = list(derive(arns, operation, params)) if derive else []
    except (KeyError, TypeError, AttributeError):  # a malformed request: botocore refuses it
        pairs = []
    if not pairs:
        pairs = [(operation, UNKNOWN)]
    action = _ACTION_OF.get((prefix, operation))
    return [(f"{prefix}:{action or op}", resource) for op, resource in pairs]


@dataclass(frozen=True)
class _Arns:
    region: str

    def make(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{ACCOUNT}:{resource}"


Pairs = Iterator[tuple[str, str]]


def _dynamodb(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else arns.make("dynamodb", f"table/{name}")
        return f"{arn}/index/{index}" if index else arn

    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                yield _TRANSACT_ACTIONS.get(kind, kind), table(request["TableName"])
    elif operation in ("BatchWriteItem", "BatchGetItem"):
        for name in params.get("RequestItems", {}):
            yield operation, table(name)
    elif "TableName" in params:
        yield operation, table(params["TableName"], params.get("IndexName"))
    elif "StreamArn" in params:
        yield operation, params["StreamArn"]


def _states(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    if operation.startswith("SendTask"):
        yield operation, TASK_TOKEN
        return
    for key in ("executionArn", "stateMachineArn", "activityArn", "resourceArn"):
        if key in params:
            yield operation, str(params[key])
            return


def _ssm(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    names = [params["Name"]] if "Name" in params else list(params.get("Names", []))
    if "Path" in params:
        names.append(params["Path"])
    for name in map(str, names):
        if name.startswith("arn:"):
            yield operation, name
        else:  # a hierarchical name starts with "/" already
            yield operation, arns.make("ssm", "parameter" + ("" if name[:1] == "/" else "/") + name)


def _events(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    def bus(name: str) -> str:
        return name if name.startswith("arn:") else arns.make("events", f"event-bus/{name}")

    if operation == "PutEvents":
        for name in sorted({str(e.get("EventBusName") or "default") for e in params["Entries"]}):
            yield operation, bus(name)
    elif "EventBusName" in params:
        yield operation, bus(str(params["EventBusName"]))


def _sqs(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    if "QueueUrl" in params:
        yield operation, arns.make("sqs", str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])
    elif "QueueName" in params:
        yield operation, arns.make("sqs", str(params["QueueName"]))


def _lambda(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    if "FunctionName" in params:
        name = str(params["FunctionName"])
        yield operation, name if name[:4] == "arn:" else arns.make("lambda", f"function:{name}")


def _s3(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    # S3 ARNs name neither region nor account: arn:aws:s3:::bucket[/key].
    if "Key" in params:
        yield operation, f"arn:{PARTITION}:s3:::{params['Bucket']}/{params['Key']}"
    elif "Bucket" in params:
        yield operation, f"arn:{PARTITION}:s3:::{params['Bucket']}"


def _cognito_idp(arns: _Arns, operation: str, params: dict[str, Any]) -> Pairs:
    if "UserPoolId" in params:
        yield operation, arns.make("cognito-idp", f"userpool/{params['UserPoolId']}")


_DERIVERS: dict[str, Callable[[_Arns, str, dict[str, Any]], Pairs]] = {
    "dynamodb": _dynamodb,
    "states": _states,
    "ssm": _ssm,
    "events": _events,
    "sqs": _sqs,
    "lambda": _lambda,
    "s3": _s3,
    "cognito-idp": _cognito_idp,
}
