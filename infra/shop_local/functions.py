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

# The error type Lambda reports for an invocation that ran past the function's Timeout.
TIMED_OUT = "Sandbox.Timedout"
# How many invocations run at once; the rest wait for a slot, as events wait for a free sandbox.
# Every function shares one process and one GIL here, so more at once adds no throughput, only
# latency to each: with hundreds in flight, each would run past its Timeout (with 16, a batch
# of 10 notifications ran past its 3 s on a loaded machine). Not above the shop's HTTP
# connection pool (shop.aws), so every running handler has a connection.
LOCAL_CONCURRENCY = 8

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


class FunctionThrottled(FunctionError):
    """The function is at its ReservedConcurrentExecutions: Lambda refuses the invocation."""

    def __init__(self, logical_id: str, limit: int) -> None:
        super().__init__(
            "TooManyRequestsException", f"{logical_id} is at its reserved concurrency ({limit})"
        )


class LocalFunctions:
    def __init__(
        self,
        specs: list[FunctionSpec],
        names: dict[str, str],
        environments: dict[str, dict[str, str]] | None = None,
        concurrency: int = LOCAL_CONCURRENCY,
    ) -> None:
        self.specs = {spec.logical_id: spec for spec in specs}
        self.names = names  # logical id -> physical name
        self.environments = environments or {}  # logical id -> its resolved variables
        if self.environments:
            install_function_environments()
        self.by_name = {name: logical_id for logical_id, name in names.items()}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._in_flight: dict[str, int] = {}  # by logical id, for reserved concurrency

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
                module = load_handler_module(
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
        environment = dict(self.environments.get(logical_id, {}))
        limit = spec.reserved_concurrency
        if limit is None:
            return self._invoke(logical_id, spec.timeout, event, context, environment)
        with self._lock:
            if self._in_flight.get(logical_id, 0) >= limit:
                raise FunctionThrottled(logical_id, limit)  # refused at once, never queued
            self._in_flight[logical_id] = self._in_flight.get(logical_id, 0) + 1
        try:
            return self._invoke(logical_id, spec.timeout, event, context, environment)
        finally:
            with self._lock:
                self._in_flight[logical_id] -= 1

    def _invoke(
        self,
        logical_id: str,
        timeout: int,
        event: Any,
        context: LambdaContext,
        environment: dict[str, str],
    ) -> Any:
        if _running.get() is not None:
            # Invoked from inside another invocation (a handler calling a function directly):
            # that one holds a slot already, and waiting for a second could deadlock.
            return self._run(logical_id, timeout, event, context, environment)
        with self._slots:
            # Lambda's timer starts when a sandbox takes the event, not while it queues.
            context.started_at = time.monotonic()
            return self._run(logical_id, timeout, event, context, environment)

    def _run(
        self,
        logical_id: str,
        timeout: int,
        event: Any,
        context: LambdaContext,
        environment: dict[str, str],
    ) -> Any:
        """Run the handler on a worker thread and wait for it at most the function's Timeout.
        Past it, fail as Lambda does (`Sandbox.Timedout`). Python cannot kill a thread, so a
        timed-out handler runs on to its end in the background, unlike Lambda, which freezes
        the sandbox: its late writes still land, as a retried step's idempotency must allow."""
        outcome: list[tuple[bool, Any]] = []
        finished = threading.Event()

        def work() -> None:
            _running.set(logical_id)
            _overlay.set(environment)
            try:
                # Loaded inside the invocation: module-level code reads the function's
                # environment.
                outcome.append((True, self.handler(logical_id)(event, context)))
            except BaseException as error:  # re-raised on the caller's thread
                outcome.append((False, error))
            finally:
                finished.set()

        # A new thread starts with empty context variables: it sees only what work() sets.
        threading.Thread(target=work, name=f"lambda-{logical_id}", daemon=True).start()
        if not finished.wait(timeout):
            raise FunctionError(TIMED_OUT, f"Task timed out after {timeout:.2f} seconds")
        succeeded, value = outcome[0]
        if succeeded:
            return value
        if isinstance(value, SystemExit):
            # The runtime process died mid-invocation: Lambda reports it as this error type.
            raise FunctionError("Runtime.ExitError", str(value)) from value
        if isinstance(value, Exception):
            raise FunctionError(type(value).__name__, str(value)) from value
        raise value


def load_handler_module(logical_id: str, path: Any, package: str = "shop_functions") -> ModuleType:
    """A handler's module from its file, named `<package>.<logical id>` (so two loaders of the
    same file, the platform and the OpenAPI generator, keep separate modules)."""
    module_spec = importlib.util.spec_from_file_location(f"{package}.{logical_id}", path)
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
