"""The IAM check itself: a call is allowed only by a statement of the function's own role, in the
SAM-translated template, that names its action and its resource; and the recorder names calls
the way IAM authorizes them. No platform runs here: ARNs come from the names the local platform
gives (`<stack>-<LogicalId>`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from shop_local import aws_calls
from shop_local.aws_calls import TASK_TOKEN, UNKNOWN, AwsCall, iam_requests
from shop_local.functions import LocalFunctions
from shop_local.iam_check import Lookup, Statement, check, function_roles, report
from shop_local.template import FunctionSpec, Template, load_template

REPO = Path(__file__).resolve().parents[2]
REGION, ACCOUNT = "eu-west-1", "123456789012"
AWAIT = "AwaitPaymentActionFunction"
WEBHOOK = "PaymentWebhookFunction"
API_KEY = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/shop/stripe/api-key"
WEBHOOK_SECRET = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/shop/stripe/webhook-secret"

SSM_PARAMETER = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
# AwaitPaymentActionFunction's policies before the IAM check existed: its payment record and
# both Stripe secrets, and nothing to complete the task it parks.
AWAIT_POLICIES_BEFORE: list[dict[str, Any]] = [
    {"DynamoDBCrudPolicy": {"TableName": {"Ref": "PaymentsTable"}}},
    {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": [
                    {"Fn::Sub": SSM_PARAMETER + "${StripeApiKeyParameter}"},
                    {"Fn::Sub": SSM_PARAMETER + "${StripeWebhookSecretParameter}"},
                ],
            }
        ]
    },
]


def local_names(template: Template) -> Lookup:
    """Ref and GetAtt as the local platform's Provisioner answers them, without creating
    anything."""

    def lookup(logical_id: str, attribute: str | None) -> Any:
        kind = template.resources[logical_id]["Type"]
        name = template.physical_name(logical_id)
        service, resource = {
            "AWS::DynamoDB::Table": ("dynamodb", f"table/{name}"),
            "AWS::SQS::Queue": ("sqs", name),
            "AWS::Events::EventBus": ("events", f"event-bus/{name}"),
            "AWS::Serverless::StateMachine": ("states", f"stateMachine:{name}"),
            "AWS::Serverless::Function": ("lambda", f"function:{name}"),
        }.get(kind, ("local", name))
        arn = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"
        if attribute is None:
            if kind == "AWS::SQS::Queue":
                return f"http://127.0.0.1/{ACCOUNT}/{name}"
            return arn if kind == "AWS::Serverless::StateMachine" else name
        return {"Name": name, "QueueName": name, "StreamArn": f"{arn}/stream/1"}.get(attribute, arn)

    return lookup


@pytest.fixture(scope="module")
def shop() -> Template:
    return Template(REPO / "template.yaml")


def table(template: Template, logical_id: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{template.physical_name(logical_id)}"
    return f"{arn}/index/{index}" if index else arn


def refused_actions(template: Template, *calls: AwsCall) -> set[tuple[str, str, str]]:
    refused = check(template, local_names(template), calls)
    return {(f, r.call.action, r.resource) for f, rs in refused.items() for r in rs}


def with_policies(tmp_path: Path, function: str, policies: list[dict[str, Any]]) -> Template:
    """A copy of template.yaml where one function has other policies (and no policy of its
    own attached to its role from outside)."""
    document = load_template(REPO / "template.yaml")
    document["Resources"][function]["Properties"]["Policies"] = policies
    role = {"Ref": f"{function}Role"}
    for logical_id, resource in list(document["Resources"].items()):
        if resource["Type"] == "AWS::IAM::Policy" and role in resource["Properties"]["Roles"]:
            del document["Resources"][logical_id]
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copytree(REPO / "statemachines", tmp_path / "statemachines")
    return Template(tmp_path / "template.yaml")


# ----------------------------------------------------------------------------- the gap it found
def test_the_await_step_may_complete_the_3d_secure_task_it_parks(shop: Template) -> None:
    calls = [AwsCall(AWAIT, f"states:SendTask{end}", TASK_TOKEN) for end in ("Success", "Failure")]
    assert check(shop, local_names(shop), calls) == {}


def test_the_await_role_as_it_was_refuses_completing_the_task(
    shop: Template, tmp_path: Path
) -> None:
    before = with_policies(tmp_path, AWAIT, AWAIT_POLICIES_BEFORE)
    state_machine = local_names(before)("CheckoutStateMachine", None)
    calls = [
        AwsCall(AWAIT, "states:SendTaskSuccess", TASK_TOKEN, "shop.payments.service"),
        AwsCall(AWAIT, "states:SendTaskFailure", TASK_TOKEN, "shop.payments.service"),
        AwsCall(AWAIT, "dynamodb:UpdateItem", table(before, "PaymentsTable")),  # granted
    ]
    refused = check(before, local_names(before), calls)
    assert {(r.call.action, r.resource) for r in refused[AWAIT]} == {
        ("states:SendTaskSuccess", state_machine),
        ("states:SendTaskFailure", state_machine),
    }
    message = report(refused, function_roles(before, local_names(before)))
    assert f"{AWAIT} (role {AWAIT}Role)" in message
    assert f"states:SendTaskSuccess on {state_machine}" in message
    assert "from shop.payments.service" in message


# ----------------------------------------------------------------------------- narrow grants
def test_payment_steps_read_the_stripe_key_and_only_the_webhook_reads_its_secret(
    shop: Template,
) -> None:
    steps = [
        "AuthorizePaymentFunction",
        AWAIT,
        "CapturePaymentFunction",
        "CancelPaymentFunction",
    ]
    calls = [AwsCall(f, "ssm:GetParameter", API_KEY) for f in steps]
    calls += [AwsCall(f, "ssm:GetParameter", WEBHOOK_SECRET) for f in [*steps, WEBHOOK]]
    calls.append(AwsCall(WEBHOOK, "ssm:GetParameter", API_KEY))
    assert refused_actions(shop, *calls) == {
        *((f, "ssm:GetParameter", WEBHOOK_SECRET) for f in steps),
        (WEBHOOK, "ssm:GetParameter", API_KEY),
    }


def test_the_webhook_completes_tasks_of_the_checkout_state_machine_only(shop: Template) -> None:
    other = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:someone-elses"
    assert refused_actions(
        shop,
        AwsCall(WEBHOOK, "states:SendTaskSuccess", TASK_TOKEN),
        AwsCall(WEBHOOK, "states:SendTaskFailure", TASK_TOKEN),
        AwsCall(WEBHOOK, "states:SendTaskSuccess", other),
    ) == {(WEBHOOK, "states:SendTaskSuccess", other)}


def test_a_payment_step_cannot_delete_payment_records(shop: Template) -> None:
    payments = table(shop, "PaymentsTable")
    assert refused_actions(
        shop,
        AwsCall(AWAIT, "dynamodb:GetItem", payments),
        AwsCall(AWAIT, "dynamodb:UpdateItem", payments),
        AwsCall(AWAIT, "dynamodb:DeleteItem", payments),
    ) == {(AWAIT, "dynamodb:DeleteItem", payments)}


def test_an_index_query_needs_the_index_and_only_that_table_is_granted(shop: Template) -> None:
    listed = table(shop, "CatalogTable", "ListedIndex")
    inventory = table(shop, "InventoryTable")
    assert refused_actions(
        shop,
        AwsCall("ListProductsFunction", "dynamodb:Query", listed),
        AwsCall("ListProductsFunction", "dynamodb:Query", inventory),
    ) == {("ListProductsFunction", "dynamodb:Query", inventory)}


def test_a_function_the_template_lacks_is_refused_everything(shop: Template) -> None:
    assert refused_actions(shop, AwsCall("GoneFunction", "dynamodb:GetItem", "*")) == {
        ("GoneFunction", "dynamodb:GetItem", "*")
    }


# ----------------------------------------------------------------------------- statements
def test_statements_match_actions_without_case_and_arns_segment_by_segment() -> None:
    table_t = "arn:aws:dynamodb:eu-west-1:123:table/T"
    statement = Statement(
        ("dynamodb:Get*", "states:SendTask????ess"),
        ("arn:aws:dynamodb:*:123:table/T", "arn:aws:states:eu-west-1:123:stateMachine:*"),
    )
    assert statement.allows("DynamoDB:GetItem", table_t)
    assert statement.allows(
        "states:SendTaskSuccess", "arn:aws:states:eu-west-1:123:stateMachine:a:b"
    )
    assert not statement.allows("dynamodb:PutItem", table_t)
    assert not statement.allows("dynamodb:GetItem", f"{table_t}/index/I")
    # A wildcard in the region does not reach across into the account.
    assert not statement.allows("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:9:123:table/T")


def test_not_action_conditions_and_unknown_resources() -> None:
    everything_but_delete = Statement(("dynamodb:DeleteItem",), ("*",), not_action=True)
    assert everything_but_delete.allows("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/T")
    assert not everything_but_delete.allows("dynamodb:DeleteItem", "arn:aws:dynamodb:r:1:table/T")
    # A Condition is not evaluated, so it is never counted as granting.
    assert not Statement(("*",), ("*",), conditional=True).allows("s3:GetObject", "*")
    # A resource the recorder could not derive is allowed only by Resource "*".
    assert not Statement(("s3:*",), ("arn:aws:s3:::*",)).allows("s3:GetObject", UNKNOWN)
    assert Statement(("s3:*",), ("*",)).allows("s3:GetObject", UNKNOWN)


# ----------------------------------------------------------------------------- the recorder
def client(service: str) -> Any:
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",  # never reached
    )


def test_calls_are_named_as_iam_authorizes_them() -> None:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "A", "Item": {}}},
            {"ConditionCheck": {"TableName": "B", "Key": {}, "ConditionExpression": "x"}},
        ]
    }
    assert iam_requests(client("dynamodb"), "TransactWriteItems", transaction) == [
        ("dynamodb:PutItem", f"{arn}/A"),
        ("dynamodb:ConditionCheckItem", f"{arn}/B"),
    ]
    query = {"TableName": "A", "IndexName": "ByUser"}
    assert iam_requests(client("dynamodb"), "Query", query) == [
        ("dynamodb:Query", f"{arn}/A/index/ByUser")
    ]
    assert iam_requests(client("stepfunctions"), "SendTaskSuccess", {"taskToken": "t"}) == [
        ("states:SendTaskSuccess", TASK_TOKEN)
    ]
    assert iam_requests(client("ssm"), "GetParameter", {"Name": "/shop/stripe/api-key"}) == [
        ("ssm:GetParameter", API_KEY)
    ]
    assert iam_requests(client("events"), "PutEvents", {"Entries": [{"Detail": "{}"}]}) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default")
    ]
    batch = {"QueueUrl": f"http://127.0.0.1/{ACCOUNT}/q", "Entries": []}
    assert iam_requests(client("sqs"), "SendMessageBatch", batch) == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")
    ]
    assert iam_requests(client("s3"), "ListBuckets", {}) == [("s3:ListBuckets", UNKNOWN)]


def test_only_calls_made_while_a_function_runs_are_recorded(tmp_path: Path) -> None:
    (tmp_path / "reader.py").write_text(
        "def handler(event, context):\n"
        "    return event['client'].get_item(TableName='T', Key={'pk': {'S': '1'}})\n"
    )
    spec = FunctionSpec("IamCheckUnitFunction", tmp_path, "reader.handler", 3, 128, {})
    functions = LocalFunctions([spec], {spec.logical_id: "reader"})
    dynamodb = client("dynamodb")
    recorder = aws_calls.install()
    try:
        with Stubber(dynamodb) as stub:
            stub.add_response("get_item", {})
            stub.add_response("get_item", {})
            dynamodb.get_item(TableName="T", Key={"pk": {"S": "1"}})  # the test's own call
            functions.invoke(spec.logical_id, {"client": dynamodb})
        assert recorder.of(spec.logical_id) == [
            AwsCall(
                spec.logical_id,
                "dynamodb:GetItem",
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/T",
                f"shop_functions.{spec.logical_id}",
            )
        ]
        assert all(call.function for call in recorder.calls())
    finally:
        recorder.forget(spec.logical_id)
