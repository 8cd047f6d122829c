"""The template's Lambda functions, run in this process: each handler module is loaded from
its CodeUri the first time it is invoked, and called with the event and a Lambda-like context.

Each invocation sees its own function's environment, as each Lambda function has its own: the
process's `os.environ` is replaced by a view that, inside an invocation, puts that function's
variables over the process's (`FunctionEnvironment`). `current_function()` names the function
whose code is running, for whatever needs to attribute work to it (the AWS call recorder).
"""

from __future__ import annotations

import contextvars
import importlib.util
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from shop_local.provision import ACCOUNT, REGION
from shop_local.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]

_running: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
_overlay: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "function_environment", default=None
)


def current_function() -> str | None:
    """The logical id of the function running on this thread, None outside any invocation."""
    return _running.get()


class FunctionEnvironment(MutableMapping[str, str]):
    """`os.environ` as a function sees it: its own variables over the process's. Writes inside
    an invocation stay in that invocation's overlay, as a Lambda's stay in its sandbox."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    def __getitem__(self, key: str) -> str:
        overlay = _overlay.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.process[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay.get()
        if overlay is not None:
            overlay[key] = value
        else:
            self.process[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _overlay.get()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.process[key]

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay.get() or {}
        yield from overlay
        yield from (key for key in self.process if key not in overlay)

    def __len__(self) -> int:
        overlay = _overlay.get() or {}
        return len(overlay) + sum(1 for key in self.process if key not in overlay)

    def copy(self) -> dict[str, str]:
        return dict(self)


def install_function_environments() -> None:
    """Make `os.environ` (and so `os.getenv`) per-function; idempotent."""
    if not isinstance(os.environ, FunctionEnvironment):
        os.environ = FunctionEnvironment(os.environ)  # type: ignore[assignment]  # noqa: B003


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
    def __init__(
        self,
        specs: list[FunctionSpec],
        names: dict[str, str],
        environments: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.specs = {spec.logical_id: spec for spec in specs}
        self.names = names  # logical id -> physical name
        self.environments = environments or {}  # logical id -> its resolved variables
        if self.environments:
            install_function_environments()
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
        running = _running.set(logical_id)
        overlay = _overlay.set(dict(self.environments.get(logical_id, {})))
        try:
            # Loaded inside the invocation: module-level code reads the function's environment.
            return self.handler(logical_id)(event, context)
        except Exception as error:
            raise FunctionError(type(error).__name__, str(error)) from error
        except SystemExit as exit_:
            # The runtime process died mid-invocation: Lambda reports it as this error type.
            raise FunctionError("Runtime.ExitError", str(exit_)) from exit_
        finally:
            _overlay.reset(overlay)
            _running.reset(running)


def _load_module(logical_id: str, path: Any) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(f"shop_functions.{logical_id}", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def function_environments(
    specs: list[FunctionSpec], resolve: Callable[[Any], Any]
) -> dict[str, dict[str, str]]:
    """Each function's environment variables (the template's Globals and its own), resolved."""
    return {
        spec.logical_id: {key: str(resolve(raw)) for key, raw in spec.environment.items()}
        for spec in specs
    }


def shared_environment(environments: dict[str, dict[str, str]]) -> dict[str, str]:
    """The variables that mean the same to every function that sets them: what local tools
    (the inventory audit, the demo loader) read from the process's environment."""
    shared: dict[str, str] = {}
    conflicting: set[str] = set()
    for variables in environments.values():
        for key, value in variables.items():
            if key in shared and shared[key] != value:
                conflicting.add(key)
            shared.setdefault(key, value)
    return {k: v for k, v in shared.items() if k not in conflicting}


def apply_environment(variables: dict[str, str]) -> None:
    os.environ.update(variables)
