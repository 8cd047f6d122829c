"""The template's Lambda functions, run in this process: each handler module is loaded from
its CodeUri the first time it is invoked, and called with the event and a Lambda-like context."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from shop_local.provision import ACCOUNT, REGION
from shop_local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that code reads."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    started_at: float
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class FunctionError(Exception):
    """A handler raised: carries the error type Lambda would report."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class LocalFunctions:
    def __init__(self, specs: list[FunctionSpec], names: dict[str, str]) -> None:
        self.specs = {spec.logical_id: spec for spec in specs}
        self.names = names  # logical id -> physical name
        self.by_name = {name: logical_id for logical_id, name in names.items()}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def logical_id(self, name_or_arn: str) -> str:
        name = name_or_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name in self.specs:
            return name
        if name in self.by_name:
            return self.by_name[name]
        raise KeyError(f"no function {name_or_arn} in the template")

    def handler(self, logical_id: str) -> Handler:
        loaded = self._handlers.get(logical_id)
        if loaded is not None:
            return loaded
        with self._lock:
            if logical_id not in self._handlers:
                spec = self.specs[logical_id]
                module_name, function_name = spec.handler.rsplit(".", 1)
                module = _load_module(
                    logical_id, spec.code_uri / f"{module_name.replace('.', '/')}.py"
                )
                self._handlers[logical_id] = getattr(module, function_name)
            return self._handlers[logical_id]

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        """Run a function once. Exceptions propagate as `FunctionError`."""
        logical_id = self.logical_id(name_or_arn)
        spec = self.specs[logical_id]
        name = self.names[logical_id]
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=spec.memory,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=spec.timeout,
            started_at=time.monotonic(),
        )
        try:
            return self.handler(logical_id)(event, context)
        except Exception as error:
            raise FunctionError(type(error).__name__, str(error)) from error


def _load_module(logical_id: str, path: Any) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(f"shop_functions.{logical_id}", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def merged_environment(specs: list[FunctionSpec], resolve: Callable[[Any], Any]) -> dict[str, str]:
    """All functions share this process's environment, so a variable must mean the same thing
    to every function that sets it; the template is refused otherwise."""
    merged: dict[str, str] = {}
    for spec in specs:
        for key, raw in spec.environment.items():
            value = str(resolve(raw))
            if key in merged and merged[key] != value:
                raise ValueError(
                    f"{spec.logical_id} sets {key}={value!r} but another function sets "
                    f"{merged[key]!r}; the local platform needs one value per variable"
                )
            merged[key] = value
    return merged


def apply_environment(variables: dict[str, str]) -> None:
    os.environ.update(variables)
