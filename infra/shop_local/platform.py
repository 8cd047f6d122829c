"""The whole platform in one process: moto's server (reached over HTTP), everything the template
declares provisioned in it, the template's functions wired to their event sources, and the local
API gateway in front."""

from __future__ import annotations

import gc
import hmac
import json
import logging
import math
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from shop import aws, breakers, faults
from shop_local import (
    aws_calls,
    circuits,
    eventbridge,
    figures,
    lambda_seam,
    moto_fidelity,
    moto_speed,
)
from shop_local.auth import LocalIdentityProvider
from shop_local.carrier_emulator import CarrierEmulator
from shop_local.event_sources import EventSource, Schedule, mapping_source, scheduled_event
from shop_local.functions import (
    FunctionError,
    LocalFunctions,
    apply_environment,
    function_environments,
    shared_environment,
)
from shop_local.gateway import Gateway, LocalRoute
from shop_local.persistence import EmulatorState, StreamCheckpoints, forget_saved_state
from shop_local.provision import REGION, Provisioner
from shop_local.storefront import StaticSite, sign_in, storefront_config
from shop_local.stripe_emulator import StripeEmulator
from shop_local.template import Template

log = logging.getLogger("shop_local")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_OPENAPI = REPO_ROOT / "openapi.yaml"
DEFAULT_STATE_DIR = REPO_ROOT / ".local"
PLATFORM_FILE = "platform.json"
# Values for the secrets the template names (by environment variable), on this machine only.
LOCAL_SECRETS = {
    "STRIPE_API_KEY_PARAMETER": "sk_test_shop_local",
    "STRIPE_WEBHOOK_SECRET_PARAMETER": "whsec_shop_local",
    "CARRIER_WEBHOOK_SECRET_PARAMETER": "carrier_whsec_shop_local",
}
PAYMENTS_WEBHOOK = "/payments/webhook"
CARRIER_WEBHOOK = "/carriers/{carrier}/webhook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def use_emulator(endpoint: str) -> None:
    """Point every AWS client of this process at the emulator."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    aws.reset_clients()


CONTROL_SECRET_FILE = "control-secret"
JWKS_PATH = "/.well-known/jwks.json"
CONTROL_SECRET_HEADER = "X-Shop-Local-Secret"
# The /_local/ controls (invoke any function with any event, move the clock) are this run's
# operator's and tests' only: they need the secret this run wrote to its state dir.


def write_control_secret(state_dir: Path) -> str:
    """A new secret for this run, readable by this user only."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / CONTROL_SECRET_FILE
    path.unlink(missing_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    return secret


def control_headers(state_dir: Path) -> dict[str, str]:
    """The header a caller of the /_local/ controls sends, read from the state dir."""
    return {CONTROL_SECRET_HEADER: (state_dir / CONTROL_SECRET_FILE).read_text().strip()}


def _bad(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message, "details": {}}}


def _number(value: object, *, limit: float) -> float | None:
    """A finite number within ±limit, or None (NaN would break every later clock read)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= limit else None


def _guarded(secret: str, control: Callable[[dict[str, Any]], tuple[int, Any]]) -> LocalRoute:
    """The control, behind the run's secret, given its body as a JSON object."""

    def route(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        offered = headers.get(CONTROL_SECRET_HEADER.lower()) or ""
        if not hmac.compare_digest(offered.encode(), secret.encode()):
            return 403, {
                "error": {
                    "code": "FORBIDDEN",
                    "message": f"local controls need the {CONTROL_SECRET_HEADER} header "
                    f"(the secret in the state dir's {CONTROL_SECRET_FILE})",
                    "details": {},
                }
            }
        try:
            request = json.loads(body or b"{}", parse_constant=_no_constants)
        except (ValueError, RecursionError):
            return 400, _bad("the body is not valid JSON")
        if not isinstance(request, dict):
            return 400, _bad("the body must be a JSON object")
        return control(request)

    return route


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass
class LocalPlatform:
    port: int = 3000
    moto_port: int = 0
    template_path: Path = DEFAULT_TEMPLATE
    openapi_path: Path = DEFAULT_OPENAPI
    state_dir: Path = DEFAULT_STATE_DIR
    stack_name: str = "shop-local"
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    sources: list[EventSource] = field(default_factory=list)
    # Load the demo catalog and stock before API routes answer (they answer 503 until then).
    demo: bool = False
    demo_summary: Any = None
    # Keep the emulators' state in `state_dir` across restarts (False: start empty each time).
    keep_state: bool = True

    def start(self) -> LocalPlatform:
        self.moto_port = self.moto_port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        # Step Functions' service integrations call back to moto on this port.
        os.environ["MOTO_PORT"] = str(self.moto_port)
        use_emulator(self.endpoint)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
        moto_fidelity.install()
        moto_speed.install()  # moto's costs that grow with its data (SHOP_MOTO_SPEED=0: off)
        aws_calls.install()  # what each function calls, for the IAM check (tests)
        self.moto = moto_speed.MotoServer("127.0.0.1", self.moto_port)
        self.moto.start()
        requests.post(
            f"{self.endpoint}/moto-api/config",
            json={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            },
            timeout=10,
        ).raise_for_status()

        # The embedded search engine, its index in this platform's state folder.
        local_defaults = {
            "SearchEngine": "tantivy",
            "SearchIndexDirectory": str((self.state_dir / "search-index").resolve()),
        }
        self.template = Template(
            self.template_path, self.stack_name, self.parameter_overrides, local_defaults
        )
        self.provisioner = Provisioner(self.template)
        self.provisioner.provision_all()
        self.tally = figures.Tally()  # every figure the functions record, for `shop metrics`
        self.tally.install()
        self.emulator_state: EmulatorState | None = None
        if self.keep_state:
            self.emulator_state = EmulatorState(self.state_dir)
            self.emulator_state.restore(self.endpoint)
        specs = self.template.functions()
        resolve = lambda value: self.template.resolve(value, self.provisioner.lookup)  # noqa: E731
        self.function_environments = function_environments(specs, resolve)
        # What every function agrees on also goes in the process's environment, for local tools.
        self.environment = shared_environment(self.function_environments)
        apply_environment(self.environment)
        self._seed_local_secrets()
        self.stripe = StripeEmulator(
            free_port(), self.state_dir if self.keep_state else None
        ).start()
        os.environ["STRIPE_API_BASE"] = self.stripe.url  # read by shop.payments; unset on AWS
        self.carrier = CarrierEmulator(
            free_port(),
            self.state_dir if self.keep_state else None,
            hop_seconds=float(os.environ.get("SHOP_CARRIER_HOP_SECONDS", "30")),
        ).start()
        os.environ["CARRIER_API_BASE"] = self.carrier.url  # read by shop.fulfillment.carriers
        self.functions = LocalFunctions(
            specs,
            {s.logical_id: self.provisioner.refs[s.logical_id] for s in specs},
            self.function_environments,
        )
        lambda_seam.install(self.functions)
        self.sources.append(eventbridge.install(self.functions))  # rules reach Lambda, SFN
        self._start_event_sources(resolve)

        self.identity = LocalIdentityProvider(self.state_dir)
        self.gateway = Gateway(
            ("127.0.0.1", self.port),
            self.template.routes(),
            self.functions,
            self.identity,
            self._local_routes(),
            ready=not self.demo,
            cors=self.template.cors(),
            site=StaticSite(),
        )
        self.port = self.gateway.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.storefront_url = self.url + "/"
        os.environ["USER_POOL_JWKS_URL"] = self.url + JWKS_PATH  # read by shop.identity
        self._gateway_thread = threading.Thread(
            target=self.gateway.serve_forever, name="gateway", daemon=True
        )
        self._gateway_thread.start()
        # localstripe signs and sends its events to us, as Stripe would; the carrier its tracking.
        paths = {r.path for r in self.template.routes()}
        if PAYMENTS_WEBHOOK in paths:
            self.stripe.register_webhook(
                "shop",
                self.url + PAYMENTS_WEBHOOK,
                LOCAL_SECRETS["STRIPE_WEBHOOK_SECRET_PARAMETER"],
            )
        if CARRIER_WEBHOOK in paths:
            self.carrier.register_webhook(
                self.url + CARRIER_WEBHOOK.replace("{carrier}", "local"),
                LOCAL_SECRETS["CARRIER_WEBHOOK_SECRET_PARAMETER"],
            )
        self._write_platform_file()
        if self.demo:
            from shop_local.demo import load_demo

            self.demo_summary = load_demo()
            # Ready once the demo's own events are handled (the catalog's 3,000 changes reach
            # the search indexer): a change made then is not queued behind them.
            self.wait_until_idle(600)
        # What start-up built (moto's backends and the demo data, boto3's service models, every
        # imported module: about 770,000 objects) lives as long as the process. Frozen, the
        # collector's full passes skip it: they walked all of it, a 190 ms pause of every
        # thread about once in ten checkouts.
        gc.freeze()
        self.gateway.ready.set()
        return self

    def forget_state(self) -> None:
        """Start empty: remove what earlier runs kept in the state folder (not its keys)."""
        forget_saved_state(self.state_dir)
        shutil.rmtree(self.state_dir / "search-index", ignore_errors=True)

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        self.gateway.shutdown()
        self.gateway.server_close()
        for source in self.sources:
            source.join(timeout=5)
        lambda_seam.uninstall()
        self.tally.uninstall()
        eventbridge.uninstall()
        self.stripe.stop()
        self.carrier.stop()
        if self.emulator_state is not None:
            self.emulator_state.save()
        self.moto.stop()

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ event sources
    def _start_event_sources(self, resolve: Any) -> None:
        # Schedule and EventBridgeRule events were made rules when provisioning: their targets
        # are reached through shop_local.eventbridge, and schedules fire below.
        delivered_by_rules = ("Api", "Schedule", "EventBridgeRule", "CloudWatchEvent")
        checkpoints = (
            StreamCheckpoints(self.state_dir / "stream-checkpoints.json")
            if self.keep_state
            else None
        )
        for spec in self.template.functions():
            for event_name, event in spec.events.items():
                kind = str(event.get("Type"))
                if kind in delivered_by_rules:
                    continue
                props = resolve(event.get("Properties", {}))
                source = mapping_source(self.functions, spec.logical_id, kind, props, checkpoints)
                if source is None:
                    log.warning(
                        "%s.%s: event type %s is not run locally", spec.logical_id, event_name, kind
                    )
                else:
                    source.start()
                    self.sources.append(source)
        for rule in self.provisioner.scheduled_rules:
            schedule = Schedule(
                rule.name, rule.expression, eventbridge.fire_scheduled_rule(rule.bus, rule.name)
            )
            schedule.start()
            self.sources.append(schedule)

    def _seed_local_secrets(self) -> None:
        """Put the local platform's secrets where the template says functions find them: the
        same SSM lookup runs on AWS, where an operator stores the real values."""
        ssm = aws.client("ssm")
        for variable, value in LOCAL_SECRETS.items():
            if variable in self.environment:
                ssm.put_parameter(
                    Name=self.environment[variable],
                    Value=value,
                    Type="SecureString",
                    Overwrite=True,
                )

    def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Block until every event source has delivered what is waiting, and what that caused
        (tests use this instead of sleeping). The sources are asked all at once, not one after
        another (each answers within its poll, up to a second), and again while any delivered
        in the meantime: what one delivers (a stream's change published to the bus, a rule's
        target fed) may wait at another that had already answered."""
        deadline = time.monotonic() + timeout
        sources = [s for s in self.sources if not isinstance(s, Schedule)]
        while True:
            before = self._activity(sources)
            for source in sources:
                source.idle.clear()
            for source in sources:
                if not source.idle.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"{source.name} still busy after {timeout}s")
            if self._activity(sources) == before:
                return

    @staticmethod
    def _activity(sources: list[EventSource]) -> int:
        return sum(source.activity for source in sources)

    # ------------------------------------------------------------------ local-only routes
    def _local_routes(self) -> dict[tuple[str, str], LocalRoute]:
        openapi = (
            yaml.safe_load(self.openapi_path.read_text()) if self.openapi_path.exists() else {}
        )
        secret = write_control_secret(self.state_dir)

        def served_openapi(_body: bytes, _headers: Mapping[str, str]) -> tuple[int, Any]:
            # The server is this platform, on whatever port it got (known once it listens).
            here = [{"url": self.url, "description": "this local platform"}]
            return 200, ({**openapi, "servers": here} if openapi else openapi)

        def health(_body: bytes, _headers: Mapping[str, str]) -> tuple[int, Any]:
            return 200, {"status": "ok" if self.gateway.ready.is_set() else "loading"}

        def shown_metrics(_body: bytes, _headers: Mapping[str, str]) -> tuple[int, Any]:
            queues = {
                logical_id: self.provisioner.refs[logical_id]
                for logical_id in self.template.of_type("AWS::SQS::Queue")
                if logical_id in self.provisioner.refs
            }
            return 200, {
                "figures": self.tally.rows(),
                "queues": figures.queue_depths(queues),
                "circuits": figures.circuits(),
            }

        def sources(_request: dict[str, Any]) -> tuple[int, Any]:
            return 200, {"sources": [{"name": s.name, "alive": s.is_alive()} for s in self.sources]}

        def run_function(request: dict[str, Any]) -> tuple[int, Any]:
            function = request.get("function")
            if not isinstance(function, str) or function not in self.functions.specs:
                return 400, _bad("`function` must name one of the template's functions")
            event = request["event"] if "event" in request else scheduled_event(function)
            if not isinstance(event, dict):
                return 400, _bad("`event` must be a JSON object")
            try:
                return 200, {"result": self.functions.invoke(function, event)}
            except FunctionError as error:
                return 200, {"error": {"type": error.error_type, "message": error.message}}

        def set_clock(request: dict[str, Any]) -> tuple[int, Any]:
            offset = _number(request.get("offset_seconds", 0), limit=100 * 365 * 24 * 3600)
            if offset is None:
                return 400, _bad("`offset_seconds` must be a finite number of seconds")
            os.environ["SHOP_CLOCK_OFFSET_SECONDS"] = str(offset)
            return 200, {"offset_seconds": offset}

        def settle(request: dict[str, Any]) -> tuple[int, Any]:
            timeout = _number(request.get("timeout", 10), limit=300)
            if timeout is None or timeout < 0:
                return 400, _bad("`timeout` must be a number of seconds, at most 300")
            try:
                self.wait_until_idle(timeout)
            except TimeoutError as error:
                return 200, {"idle": False, "busy": str(error)}
            return 200, {"idle": True}

        def configure_carrier(request: dict[str, Any]) -> tuple[int, Any]:
            # How the carrier emulator misbehaves (rates in [0, 1]) and how long a hop of its
            # next labels takes; not waited on by settle (its events come on the clock).
            changes: dict[str, float] = {}
            for name in ("duplicate_rate", "reorder_rate", "hop_seconds"):
                if name in request:
                    number = _number(request[name], limit=86_400)
                    if number is None:
                        return 400, _bad(f"`{name}` must be a finite number")
                    changes[name] = number
            try:
                settings = self.carrier.configure(**changes)
            except ValueError as error:
                return 400, _bad(str(error))
            return 200, {"pending": self.carrier.pending(), **settings}

        def break_dependency(request: dict[str, Any]) -> tuple[int, Any]:
            # A dependency (search, recommendation-store, ...) broken in this process, as the
            # suite's fault matrix breaks it, for end-to-end tests of the degraded answers;
            # {"clear": true} repairs all and closes their circuits again.
            if request.get("clear") is True:
                faults.clear()
                circuits.reset()
                return 200, {"broken": {}}
            dependency, mode = request.get("dependency"), request.get("mode")
            names = [d.name for d in breakers.DEPENDENCIES]
            if dependency not in names or mode not in faults.DEPENDENCY_MODES:
                return 400, _bad(
                    f"`dependency` must be one of {names} and `mode` one of "
                    f"{list(faults.DEPENDENCY_MODES)} (or send {{'clear': true}})"
                )
            faults.break_dependency(str(dependency), str(mode))
            return 200, {"broken": {dependency: mode}}

        controls: dict[str, Callable[[dict[str, Any]], tuple[int, Any]]] = {
            "GET /_local/sources": sources,
            "POST /_local/invoke": run_function,
            "POST /_local/clock": set_clock,
            "POST /_local/settle": settle,
            "POST /_local/carrier": configure_carrier,
            "POST /_local/faults": break_dependency,
        }
        routes: dict[tuple[str, str], LocalRoute] = {
            ("GET", "/openapi.json"): served_openapi,
            ("GET", "/_local/health"): health,  # a readiness probe: says nothing, changes nothing
            ("GET", "/_local/metrics"): shown_metrics,  # counts only: what CloudWatch would show
            # The user pool's public keys, as Cognito publishes them under its issuer.
            ("GET", JWKS_PATH): lambda _body, _headers: (200, self.identity.jwks()),
            # The storefront's settings on this platform, and its sign-in (a shopper's token,
            # unguarded: it is what the Hosted UI gives anyone who signs in on AWS).
            ("GET", "/config.json"): lambda _body, _headers: (
                200,
                storefront_config(self.stripe.url),
            ),
            ("POST", "/_local/sign-in"): lambda body, _headers: sign_in(self.identity, body),
        }
        for name, control in controls.items():
            method, path = name.split(" ")
            routes[(method, path)] = _guarded(secret, control)
        return routes

    def _write_platform_file(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / PLATFORM_FILE).write_text(
            json.dumps(
                {
                    "url": self.url,
                    "aws_endpoint": self.endpoint,
                    # Local tools attached to this platform reach its Stripe and carrier
                    # emulators too.
                    "environment": {
                        **self.environment,
                        "STRIPE_API_BASE": self.stripe.url,
                        "CARRIER_API_BASE": self.carrier.url,
                    },
                },
                indent=2,
            )
        )
