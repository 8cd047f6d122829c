"""Create in the emulator every table, queue, bucket, bus, rule and state machine the template
declares (and the rules SAM makes of functions' Schedule and EventBridgeRule events), and
remember what each logical id resolves to (its Ref and its attributes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shop import aws
from shop_local import auth
from shop_local.template import PSEUDO_PARAMETERS, Template

REGION = str(PSEUDO_PARAMETERS["AWS::Region"])
ACCOUNT = str(PSEUDO_PARAMETERS["AWS::AccountId"])

# Properties of AWS::DynamoDB::Table that CreateTable takes as they are.
_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)
_QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "FifoQueue": "FifoQueue",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
}


# What a rule's target keeps (moto stores targets as given).
_TARGET_KEYS = (
    "Id",
    "Arn",
    "RoleArn",
    "Input",
    "InputPath",
    "InputTransformer",
    "SqsParameters",
    "RetryPolicy",
    "DeadLetterConfig",
)


@dataclass(frozen=True)
class ScheduledRule:
    """A rule with a ScheduleExpression: the platform fires it (EventBridge's scheduler)."""

    name: str
    bus: str
    expression: str
    state: str


class Provisioner:
    """Creates resources in dependency order and answers Ref/GetAtt for them."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self.scheduled_rules: list[ScheduledRule] = []

    def lookup(self, logical_id: str, attribute: str | None) -> Any:
        if attribute is None:
            if logical_id not in self.refs:
                self._provision(logical_id)
            return self.refs[logical_id]
        if (logical_id, attribute) not in self.attributes:
            self._provision(logical_id)
        return self.attributes[(logical_id, attribute)]

    def provision_all(self) -> None:
        for logical_id in self.template.resources:
            if logical_id not in self.refs:
                self._provision(logical_id)

    def _provision(self, logical_id: str) -> None:
        if logical_id not in self.template.resources and self._generated_by_sam(logical_id):
            # A role SAM makes for a function or state machine (`<Function>Role`), which a
            # template may name (to attach a policy): no local counterpart, a name only.
            name = f"{self.template.stack_name}-{logical_id}"
            self.refs[logical_id] = name
            self._placeholder_attributes(logical_id, name)
            return
        resource = self.template.resources[logical_id]
        kind = resource["Type"]
        name = self.template.physical_name(logical_id)
        creator = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::Events::EventBus": self._bus,
            "AWS::Events::Rule": self._rule,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Serverless::Function": self._function,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::S3::Bucket": self._bucket,
        }.get(kind)
        if creator is None:
            # Resources with no local counterpart (the API, the layer, alarms, log groups,
            # the WAF, ...): names only, so that references to them resolve. Their own
            # properties are not read (an alarm names queues SAM makes on AWS only).
            self.refs[logical_id] = name
            self._placeholder_attributes(logical_id, name)
            return
        creator(
            logical_id,
            name,
            self.template.resolve(resource.get("Properties", {}) or {}, self.lookup),
        )

    def _generated_by_sam(self, logical_id: str) -> bool:
        owner = self.template.resources.get(logical_id.removesuffix("Role"), {})
        return logical_id.endswith("Role") and owner.get("Type") in (
            "AWS::Serverless::Function",
            "AWS::Serverless::StateMachine",
        )

    def _user_pool(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        """The local identity provider signs tokens in the user pool's stead: functions that
        check tokens themselves (public routes) are told its issuer. The pool itself is made in
        the emulator too (empty: the stand-in signs anyone in), so that the calls functions
        make on its users (an account's export and erasure) reach a real user pool API."""
        request = {
            k: props[k] for k in ("UsernameAttributes", "AutoVerifiedAttributes") if k in props
        }
        pool = aws.client("cognito-idp").create_user_pool(PoolName=name, **request)["UserPool"]
        self.refs[logical_id] = pool["Id"]
        self._placeholder_attributes(logical_id, name)
        self.attributes[(logical_id, "Arn")] = pool["Arn"]
        self.attributes[(logical_id, "ProviderURL")] = auth.ISSUER

    def _user_pool_client(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        self.refs[logical_id] = auth.CLIENT_ID  # the audience of the local ID tokens
        self._placeholder_attributes(logical_id, name)

    def _placeholder_attributes(self, logical_id: str, name: str) -> None:
        # (DomainName: a CloudFront distribution's, which the user pool client's callback
        # URLs name.)
        for attribute in ("Arn", "Name", "Id", "DomainName"):
            self.attributes[(logical_id, attribute)] = f"arn:aws:local:{REGION}:{ACCOUNT}:{name}"

    def _table(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        request = {k: props[k] for k in _TABLE_KEYS if k in props}
        request.setdefault("BillingMode", "PAY_PER_REQUEST")
        if "StreamSpecification" in request:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": request["StreamSpecification"]["StreamViewType"],
            }
        table = aws.client("dynamodb").create_table(TableName=name, **request)["TableDescription"]
        self.refs[logical_id] = name
        self.attributes[(logical_id, "Arn")] = table["TableArn"]
        if "LatestStreamArn" in table:
            self.attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]

    def _queue(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        attributes = {
            sqs_name: str(props[cfn_name]).lower()
            if isinstance(props[cfn_name], bool)
            else str(props[cfn_name])
            for cfn_name, sqs_name in _QUEUE_ATTRIBUTES.items()
            if cfn_name in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = aws.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.refs[logical_id] = url
        self.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        self.attributes[(logical_id, "QueueName")] = name
        self.attributes[(logical_id, "QueueUrl")] = url

    def _bucket(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        # Bucket names are lower case (CloudFormation lowers the names it makes too).
        bucket = str(props.get("BucketName") or name).lower()
        aws.client("s3").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.refs[logical_id] = bucket
        self.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{bucket}"
        self.attributes[(logical_id, "DomainName")] = f"{bucket}.s3.amazonaws.com"

    def _bus(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        arn = aws.client("events").create_event_bus(Name=name)["EventBusArn"]
        self.refs[logical_id] = name
        self.attributes[(logical_id, "Arn")] = arn
        self.attributes[(logical_id, "Name")] = name

    def _rule(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        arn = self._put_rule(name, props, props.get("Targets", []))
        self.refs[logical_id] = name
        self.attributes[(logical_id, "Arn")] = arn

    def _put_rule(self, name: str, props: dict[str, Any], targets: list[dict[str, Any]]) -> str:
        """A rule with its targets. Lambda targets name the function's ARN and state machine
        targets the machine's: what shop_local.eventbridge dispatches on."""
        events = aws.client("events")
        bus = props.get("EventBusName", "default")
        request: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": props.get("State", "ENABLED"),
        }
        if "EventPattern" in props:
            request["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            request["ScheduleExpression"] = props["ScheduleExpression"]
            self.scheduled_rules.append(
                ScheduledRule(name, bus, props["ScheduleExpression"], request["State"])
            )
        arn: str = events.put_rule(**request)["RuleArn"]
        kept = [{k: v for k, v in target.items() if k in _TARGET_KEYS} for target in targets]
        if kept:
            events.put_targets(Rule=name, EventBusName=bus, Targets=kept)
        return arn

    def _state_machine(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        if "Definition" in props:
            definition = json.dumps(props["Definition"])
        else:
            definition = (self.template.root / props["DefinitionUri"]).read_text()
        # What CloudFormation does with DefinitionSubstitutions (moto's CloudFormation does not).
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = aws.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-role",
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self.refs[logical_id] = arn
        self.attributes[(logical_id, "Arn")] = arn
        self.attributes[(logical_id, "Name")] = name

    def _function(self, logical_id: str, name: str, props: dict[str, Any]) -> None:
        # Functions run in this process (shop_local.functions); only their names are needed,
        # and the rules SAM makes of their Schedule and EventBridgeRule events.
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.refs[logical_id] = name
        self.attributes[(logical_id, "Arn")] = arn
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") in ("Schedule", "EventBridgeRule", "CloudWatchEvent"):
                self._event_rule(f"{logical_id}{event_name}", arn, event)

    def _event_rule(self, rule_id: str, function_arn: str, event: dict[str, Any]) -> None:
        """What SAM's transform makes of a function's Schedule or EventBridgeRule event: a rule
        (on the default bus for a schedule) with the function as its one target."""
        props = event.get("Properties") or {}
        rule: dict[str, Any] = {}
        if event["Type"] == "Schedule":
            rule["ScheduleExpression"] = props["Schedule"]
            enabled = props.get("Enabled", True) and props.get("State", "ENABLED") == "ENABLED"
            rule["State"] = "ENABLED" if enabled else "DISABLED"
        else:
            rule["EventPattern"] = props["Pattern"]
            rule["EventBusName"] = props.get("EventBusName", "default")
            rule["State"] = props.get("State", "ENABLED")
        target = {
            "Id": (props.get("Target") or {}).get("Id", f"{rule_id}LambdaTarget"),
            "Arn": function_arn,
            **{k: props[k] for k in ("Input", "InputPath", "InputTransformer") if k in props},
        }
        name = props.get("Name") or props.get("RuleName") or f"{self.template.stack_name}-{rule_id}"
        self._put_rule(name, rule, [target])
