"""What the template gives whoever runs the shop on AWS, read from the CloudFormation SAM
deploys (the translated template): an alarm on every dead-letter queue, logs with a retention,
the data kept when the stack goes, the API's access logs and its WAF."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from shop_local.gateway import THROTTLED_RETRY_AFTER
from shop_local.lint_template import translate

REPO = Path(__file__).resolve().parents[2]


@cache
def deployed() -> dict[str, Any]:
    resources: dict[str, Any] = translate(REPO / "template.yaml")["Resources"]
    return resources


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in deployed().items() if r["Type"] == kind}


def dead_letter_queues() -> set[str]:
    """Every queue some queue redrives to, and every queue a function or a rule sends its
    failed events to."""
    found: set[str] = set()

    def arn_of(value: Any) -> None:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])

    for queue in of_type("AWS::SQS::Queue").values():
        arn_of((queue["Properties"].get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
    for rule in of_type("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            arn_of((target.get("DeadLetterConfig") or {}).get("Arn"))
    for scheduler in of_type("AWS::Scheduler::Schedule").values():
        arn_of((scheduler["Properties"]["Target"].get("DeadLetterConfig") or {}).get("Arn"))
    return found


def test_every_dead_letter_queue_has_an_alarm_that_notifies() -> None:
    queues = dead_letter_queues()
    assert len(queues) >= 10  # five of the template's, five SAM makes for the schedules
    watched = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        for dimension in properties.get("Dimensions", []):
            if dimension["Name"] == "QueueName":
                watched[dimension["Value"]["Fn::GetAtt"][0]] = properties
    assert queues <= set(watched), f"no alarm on {sorted(queues - set(watched))}"
    for properties in watched.values():
        assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert properties["Threshold"] == 1
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_sagas_the_api_and_the_functions_have_alarms() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    machines = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]: a["Properties"]["MetricName"]
        for a in alarms.values()
        if a["Properties"].get("Namespace") == "AWS/States"
    }
    assert set(machines) == set(of_type("AWS::StepFunctions::StateMachine"))
    namespaces = {a["Properties"].get("Namespace") for a in alarms.values()}
    assert {"AWS/Lambda", "AWS/ApiGateway"} <= namespaces
    assert "ApiServerErrorsAlarm" in alarms  # 5xx as a share of requests (metric math)
    assert of_type("AWS::CloudWatch::Dashboard")


def test_every_function_logs_to_a_group_with_a_retention() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())
    for name, function in of_type("AWS::Lambda::Function").items():
        logging = function["Properties"]["LoggingConfig"]
        assert logging["LogGroup"] == {"Ref": "FunctionLogGroup"}, name
        assert logging["LogFormat"] == "JSON", name


def test_the_shops_tables_and_the_user_pool_outlive_the_stack() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert tables.pop("CircuitsTable")["DeletionPolicy"] == "Delete"  # state, not shop data
    kept = [*tables.items(), *of_type("AWS::Cognito::UserPool").items()]
    assert len(kept) == 13
    for name, resource in kept:
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_the_api_keeps_access_logs_throttles_and_sits_behind_a_switchable_waf() -> None:
    (stage,) = of_type("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["AccessLogSetting"]["DestinationArn"] == {
        "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]
    }
    assert properties["MethodSettings"][0]["ThrottlingRateLimit"] > 0
    (acl,) = of_type("AWS::WAFv2::WebACL").values()
    assert acl["Condition"] == "UseWaf"
    rule = acl["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]
    # Behind the CDN, the viewer's address (X-Forwarded-For), not CloudFront's, is counted.
    assert rule["AggregateKeyType"] == {"Fn::If": ["UseApiCdn", "FORWARDED_IP", "IP"]}
    (association,) = of_type("AWS::WAFv2::WebACLAssociation").values()
    assert association["Condition"] == "UseWaf"


def test_the_api_cdn_keeps_only_what_the_functions_cache_control_allows_per_caller() -> None:
    distribution = of_type("AWS::CloudFront::Distribution")["ApiDistribution"]
    assert distribution["Condition"] == "UseApiCdn"
    config = distribution["Properties"]["DistributionConfig"]
    assert "CacheBehaviors" not in config  # no route is special-cased: Cache-Control decides
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["CachedMethods"] == ["GET", "HEAD"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    (policy,) = of_type("AWS::CloudFront::CachePolicy").values()
    cache = policy["Properties"]["CachePolicyConfig"]
    assert cache["DefaultTTL"] == 0  # an answer without Cache-Control is not kept
    assert cache["MinTTL"] == 0  # no-store and private are honoured
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    # A signed-in shopper's search (Vary: Authorization) and a guest's cart never cross.
    assert {"Authorization", "X-Cart-Token"} <= set(key["HeadersConfig"]["Headers"])
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    assert behaviour["CachePolicyId"] == {
        "Ref": next(iter(of_type("AWS::CloudFront::CachePolicy")))
    }


def test_every_samconfig_environment_names_its_stack() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    environments = {name for name, value in config.items() if isinstance(value, dict)}
    assert {"default", "localstack"} <= environments
    for name in environments:
        commands = config[name]
        stack = (commands.get("global", {}).get("parameters") or {}).get("stack_name") or (
            commands.get("deploy", {}).get("parameters") or {}
        ).get("stack_name")
        assert stack, (
            f"samconfig [{name}] has no stack_name: `sam deploy --config-env {name}` fails"
        )


def test_every_table_is_encrypted_with_the_shops_own_key_unless_told_otherwise() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    for name, table in tables.items():
        encryption = table["Properties"]["SSESpecification"]
        assert encryption["SSEEnabled"] is True, name
        assert encryption["KMSMasterKeyId"] == {
            "Fn::If": ["UseTablesKey", {"Ref": "TablesKey"}, {"Ref": "AWS::NoValue"}]
        }, name
    key = deployed()["TablesKey"]
    assert key["Condition"] == "UseTablesKey"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    parameters = translate(REPO / "template.yaml")["Parameters"]
    assert parameters["TablesEncryption"]["Default"] == "customer-managed"


def test_a_throttled_function_is_answered_429_with_retry_after_here_and_on_aws() -> None:
    (api,) = of_type("AWS::ApiGateway::RestApi").values()
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    for kind in ("THROTTLED", "INTEGRATION_FAILURE"):  # stage throttling; Lambda's throttle
        assert responses[kind]["statusCode"] == "429"
        retry_after = responses[kind]["responseParameters"]["gatewayresponse.header.Retry-After"]
        assert retry_after == f"'{THROTTLED_RETRY_AFTER}'"  # what the local gateway sends
    browsing = [
        "SearchProductsFunction",
        "SuggestProductsFunction",
        "ProductRecommendationsFunction",
        "ShopperRecommendationsFunction",
    ]
    for name in browsing:
        reserved = deployed()[name]["Properties"]["ReservedConcurrentExecutions"]
        assert reserved == {
            "Fn::If": ["LimitBrowsing", {"Ref": "BrowsingConcurrency"}, {"Ref": "AWS::NoValue"}]
        }
