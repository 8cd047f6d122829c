"""Read template.yaml: its resources, functions, routes and event sources, and resolve the
intrinsic functions (Ref, GetAtt, Sub, Join, Select) against what the local platform created."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PSEUDO_PARAMETERS = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as f:
        document: dict[str, Any] = yaml.load(f, Loader=_TemplateLoader)
    return document


@dataclass
class Route:
    method: str  # upper case, or ANY
    path: str  # as in the template: /products/{product_id}
    function: str  # logical id
    authorizer: str | None  # None: public

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Retries of an asynchronous invocation (EventBridge, schedules) after a function error.
    async_retries: int = 2
    # ReservedConcurrentExecutions: at most this many invocations at once, the next throttled.
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Cors:
    """An API's CORS, as SAM's `Cors` property declares it (values unquoted)."""

    allow_origin: str
    allow_methods: str
    allow_headers: str
    max_age: str

    def preflight_headers(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self.allow_origin,
            "Access-Control-Allow-Methods": self.allow_methods,
            "Access-Control-Allow-Headers": self.allow_headers,
            "Access-Control-Max-Age": self.max_age,
        }


def _reserved(value: Any) -> int | None:
    """ReservedConcurrentExecutions as resolved: None when it is not set (AWS::NoValue)."""
    return None if value is None else int(value)


def _no_resources(logical_id: str, attribute: str | None) -> Any:
    raise ValueError(f"a condition cannot depend on a resource ({logical_id})")


class Template:
    def __init__(
        self,
        path: Path,
        stack_name: str = "shop-local",
        parameter_overrides: dict[str, str] | None = None,
        local_defaults: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.root = path.parent
        self.stack_name = stack_name
        self.document = load_template(path)
        self.resources: dict[str, dict[str, Any]] = self.document.get("Resources", {})
        self.globals: dict[str, Any] = self.document.get("Globals", {}).get("Function", {})
        self.parameters = {
            name: spec.get("Default") for name, spec in self.document.get("Parameters", {}).items()
        }
        for name, value in (local_defaults or {}).items():  # the platform's, where they apply
            if name in self.parameters:
                self.parameters[name] = value
        for name, value in (parameter_overrides or {}).items():  # as `sam deploy` takes them
            if name not in self.parameters:
                raise KeyError(f"the template has no parameter {name}")
            self.parameters[name] = value
        # Conditions decide which resources exist, as CloudFormation's do.
        self.conditions: dict[str, bool] = {}
        for name, expression in self.document.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expression, _no_resources))
        self.resources = {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") in types}

    def functions(self) -> list[FunctionSpec]:
        specs = []
        global_env = self.globals.get("Environment", {}).get("Variables", {})
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            invoke_config = props.get("EventInvokeConfig", self.globals.get("EventInvokeConfig"))
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_uri=self.root / props.get("CodeUri", self.globals.get("CodeUri", ".")),
                    handler=props.get("Handler", self.globals.get("Handler", "")),
                    timeout=int(props.get("Timeout", self.globals.get("Timeout", 3))),
                    memory=int(props.get("MemorySize", self.globals.get("MemorySize", 128))),
                    environment=env,
                    events=props.get("Events", {}) or {},
                    async_retries=int((invoke_config or {}).get("MaximumRetryAttempts", 2)),
                    reserved_concurrency=_reserved(
                        self.resolve(props.get("ReservedConcurrentExecutions"), _no_resources)
                    ),
                )
            )
        return specs

    def routes(self) -> list[Route]:
        default_authorizers = {
            api_id: (res.get("Properties", {}).get("Auth") or {}).get("DefaultAuthorizer")
            for api_id, res in self.of_type("AWS::Serverless::Api").items()
        }
        routes = []
        for spec in self.functions():
            for event in spec.events.values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                api = str((props.get("RestApiId") or {}).get("Ref", ""))
                authorizer = (props.get("Auth") or {}).get(
                    "Authorizer", default_authorizers.get(api)
                )
                routes.append(
                    Route(
                        method=str(props["Method"]).upper(),
                        path=props["Path"],
                        function=spec.logical_id,
                        authorizer=None if authorizer in (None, "NONE") else authorizer,
                    )
                )
        return routes

    def cors(self) -> Cors | None:
        """The CORS of the template's API (one API; None if it declares none)."""
        for api in self.of_type("AWS::Serverless::Api").values():
            declared = (api.get("Properties") or {}).get("Cors")
            if declared:
                values = {
                    k: str(v).strip("'")  # SAM's values are quoted header values
                    for k, v in self.resolve(declared, _no_resources).items()
                }
                return Cors(
                    allow_origin=values.get("AllowOrigin", "*"),
                    allow_methods=values.get("AllowMethods", "*"),
                    allow_headers=values.get("AllowHeaders", "*"),
                    max_age=values.get("MaxAge", "0"),
                )
        return None

    def physical_name(self, logical_id: str) -> str:
        """The name the local platform gives a resource: its own name property, else
        <stack>-<LogicalId> as CloudFormation would (minus the random suffix)."""
        resource = self.resources[logical_id]
        props = resource.get("Properties", {})
        for key in ("TableName", "QueueName", "Name", "FunctionName", "StateMachineName"):
            if isinstance(props.get(key), str | dict):
                return str(self.resolve(props[key], lambda _r, _a: ""))
        suffix = ".fifo" if props.get("FifoQueue") else ""
        return f"{self.stack_name}-{logical_id}{suffix}"

    def resolve(self, value: Any, lookup: Callable[[str, str | None], Any]) -> Any:
        """Evaluate intrinsics. `lookup(logical_id, attribute)` gives a resource's Ref
        (attribute None) or GetAtt value."""
        if isinstance(value, list):
            return [self.resolve(v, lookup) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v, lookup) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self._ref(arg, lookup)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return lookup(logical_id, attribute)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            resolved_vars = {k: self.resolve(v, lookup) for k, v in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in resolved_vars:
                    return str(resolved_vars[name])
                if "." in name:
                    logical_id, attribute = name.split(".", 1)
                    return str(lookup(logical_id, attribute))
                return str(self._ref(name, lookup))

            return re.sub(r"\$\{([^}]+)\}", substitute, text)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(p) for p in self.resolve(parts, lookup))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items, lookup)[int(self.resolve(index, lookup))]
        if key == "Fn::Equals":
            left, right = self.resolve(arg, lookup)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0], lookup)
        if key == "Fn::If":
            condition, if_true, if_false = arg
            return self.resolve(if_true if self.conditions[condition] else if_false, lookup)
        if key == "Condition":
            return self.conditions[arg]
        if key.startswith("Fn::"):
            raise NotImplementedError(f"the local platform does not evaluate {key}")
        return {key: self.resolve(arg, lookup)}

    def _ref(self, name: str, lookup: Callable[[str, str | None], Any]) -> Any:
        if name == "AWS::StackName":
            return self.stack_name
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        return lookup(name, None)
