"""Does each function's role, as SAM deploys it, allow every AWS call the function's code makes?

The roles are read from the template as `aws-sam-translator` translates it (the form CloudFormation
really deploys: policy templates expanded into inline policies), with `shop_local.lint_template`'s
offline translation. Their intrinsics (`Fn::Sub`, `Ref`, `Fn::GetAtt`) are resolved by the
caller's `lookup`, the local platform's `Provisioner.lookup` when checking what the platform
recorded, so that policy ARNs and recorded ARNs name resources the same way.

What is evaluated: Allow statements (Action/NotAction, Resource/NotResource, `*` and `?`
wildcards, case-insensitive actions, ARN segments matched one by one). Not evaluated, so never
counted as granting: statements with a Condition, managed policies (their contents are not known
offline), Deny (nothing here needs one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shop_local.aws_calls import TASK_TOKEN, UNKNOWN, AwsCall
from shop_local.lint_template import translate
from shop_local.template import Template

Lookup = Callable[[str, str | None], Any]


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_action: bool = False  # the actions are a NotAction
    not_resource: bool = False
    conditional: bool = False

    def allows(self, action: str, resource: str) -> bool:
        if self.conditional:
            return False
        action_listed = any(_matches(p, action, case_sensitive=False) for p in self.actions)
        resource_listed = any(_arn_matches(p, resource) for p in self.resources)
        return action_listed != self.not_action and resource_listed != self.not_resource


@dataclass
class Role:
    function: str
    name: str  # the role's logical id in the translated template
    statements: list[Statement] = field(default_factory=list)
    managed_policies: list[str] = field(default_factory=list)

    def allows(self, action: str, resource: str) -> bool:
        return any(s.allows(action, resource) for s in self.statements)


@dataclass(frozen=True)
class Refusal:
    call: AwsCall
    resource: str  # what IAM evaluates: the call's resource, or a task token's state machine


def check(template: Template, lookup: Lookup, calls: Iterable[AwsCall]) -> dict[str, list[Refusal]]:
    """Every call its function's role refuses, by function."""
    return refusals(calls, function_roles(template, lookup), task_token_issuers(template, lookup))


def function_roles(template: Template, lookup: Lookup) -> dict[str, Role]:
    """Each function's role in the SAM-translated template, its policies resolved."""
    resources: dict[str, Any] = translate(template.path)["Resources"]

    def resolve(value: Any) -> Any:
        return template.resolve(value, lookup)

    roles: dict[str, Role] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_id = _role_id(resource["Properties"].get("Role"))
        role = roles[logical_id] = Role(logical_id, role_id or "")
        if role_id is None or role_id not in resources:
            continue  # a role from outside the template: nothing known about it
        props = resources[role_id].get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        # Policies attached from outside the role (AWS::IAM::Policy, AWS::IAM::ManagedPolicy).
        for other in resources.values():
            if not template.conditions.get(other.get("Condition", ""), True):
                continue  # not created with these parameters (the OpenSearch collection's)
            attached = {_ref_id(r) for r in (other.get("Properties") or {}).get("Roles", [])}
            if other["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and (
                role_id in attached
            ):
                documents.append(other["Properties"]["PolicyDocument"])
        for document in documents:
            role.statements.extend(_statements(resolve(document)))
        role.managed_policies = [str(arn) for arn in resolve(props.get("ManagedPolicyArns", []))]
    return roles


def task_token_issuers(template: Template, lookup: Lookup) -> list[str]:
    """The ARNs of the state machines that hand out task tokens (a `.waitForTaskToken` task):
    a token names no resource, so SendTask* is authorized against the state machine it came
    from, and a function holding one may hold any of theirs."""
    issuers = []
    for logical_id, resource in template.of_type(
        "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"
    ).items():
        props = resource.get("Properties", {})
        definition = str(props.get("Definition") or props.get("DefinitionString") or "")
        if isinstance(props.get("DefinitionUri"), str):
            definition += (template.root / props["DefinitionUri"]).read_text()
        if ".waitForTaskToken" in definition:
            issuers.append(str(template.resolve({"Ref": logical_id}, lookup)))
    return issuers


def refusals(
    calls: Iterable[AwsCall], roles: dict[str, Role], token_issuers: list[str]
) -> dict[str, list[Refusal]]:
    refused: dict[str, list[Refusal]] = {}
    for call in calls:
        role = roles.get(call.function)
        targets = [call.resource]
        if call.resource == TASK_TOKEN:
            targets = token_issuers or [UNKNOWN]
        for resource in targets:
            if role is None or not role.allows(call.action, resource):
                refused.setdefault(call.function, []).append(Refusal(call, resource))
    return refused


def report(refused: dict[str, list[Refusal]], roles: dict[str, Role] | None = None) -> str:
    """The refusals grouped by function, one line each, for a test failure."""
    total = sum(len(r) for r in refused.values())
    lines = [f"{total} AWS call(s) the code makes are not allowed by the function's role:"]
    for function in sorted(refused):
        role = (roles or {}).get(function)
        where = f" (role {role.name})" if role else (" (not in the template)" if roles else "")
        lines.append(f"\n{function}{where}")
        for refusal in refused[function]:
            call = refusal.call
            token = " (the task token's state machine)" if call.resource == TASK_TOKEN else ""
            origin = f", from {call.origin}" if call.origin else ""
            lines.append(f"  - {call.action} on {refusal.resource}{token}{origin}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- policy documents
def _role_id(role: Any) -> str | None:
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
    return None


def _ref_id(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and "Ref" in value else None


def _statements(document: dict[str, Any]) -> list[Statement]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    found = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        found.append(
            Statement(
                actions=_strings(statement.get("Action", statement.get("NotAction"))),
                resources=_strings(statement.get("Resource", statement.get("NotResource"))),
                not_action="NotAction" in statement,
                not_resource="NotResource" in statement,
                conditional="Condition" in statement,
            )
        )
    return found


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def _arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: wildcards stay within the partition, service, region and account
    segments, and match anything (`:` and `/` included) in the resource part."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return _matches(pattern, arn, case_sensitive=True)
    return all(
        _matches(p, a, case_sensitive=True) for p, a in zip(pattern_parts, arn_parts, strict=True)
    )


def _matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    return _compiled(pattern, case_sensitive).fullmatch(value) is not None


@cache
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)
