"""Cold-start import cost of every Lambda handler module in template.yaml.

Each AWS::Serverless::Function's handler module (CodeUri + Handler) is loaded the way the local
platform loads it (`importlib.util.spec_from_file_location` + `exec_module`), in a FRESH
interpreter per measurement, so nothing is already in `sys.modules`. The child times only the
load of the module file with `time.perf_counter()`; the parent also times the whole process
(spawn, interpreter start-up and the load; the child skips teardown with `os._exit`), and a bare
interpreter (`python -c pass`) for reference.

First one untimed interpreter loads every handler in turn: it compiles bytecode into a private
cache and checks, with an audit hook, that importing opens no network connection and creates no
AWS client. Then `--repeats` timed runs per handler, taking the handlers in turn; the table shows
the median. The heaviest handler is then loaded once more under `-X importtime`, and its import
time is attributed to top-level packages (the sum of each module's own "self" time), and to the
third-party packages the handler and the `shop` package import (cumulative time).

The children get a minimal environment: the function's template variables with dummy resource
names, dummy AWS credentials and an endpoint nobody listens on. Bytecode goes to a temporary
PYTHONPYCACHEPREFIX, so nothing is written into the repository.

    .venv/bin/python bench/handler_import_time.py [--repeats 5] [--markdown OUT.md]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shop_local.template import FunctionSpec, Template

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

TEMPLATE = common.REPO_ROOT / "template.yaml"
MARKER = "--- bench: handler import starts here ---"
TOP_PACKAGES = 5
PROJECT_PACKAGES = frozenset({"shop", "shop_local"})

# Runs in the fresh interpreter: argv = module path, handler attribute, marker. importlib.util
# is imported before the clock starts (a Lambda runtime has it loaded already), and the child
# leaves with os._exit: interpreter teardown is no part of a cold start.
CHILD = """
import importlib.util, json, os, sys, time

path, attribute, marker = sys.argv[1:4]
before = len(sys.modules)
sys.stderr.write(marker + "\\n")
sys.stderr.flush()
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("bench_handler", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
if not callable(getattr(module, attribute, None)):
    raise SystemExit(f"{path} has no callable {attribute}")
print(json.dumps({"import_ms": elapsed * 1000, "modules": len(sys.modules) - before}))
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""

# One interpreter loads every handler in turn (argv[1]: JSON [[name, path, attribute], ...]),
# filling the bytecode cache, and reports per handler the network use (an audit hook sees every
# connect and name lookup) and the AWS clients created while it loaded.
CHECK_ALL = """
import importlib.util, json, sys, time

events = []
def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        events.append(event + " " + repr(args[1] if event == "socket.connect" else args[0]))
sys.addaudithook(audit)
reports = {}
for name, path, attribute in json.loads(sys.argv[1]):
    seen = len(events)
    aws = sys.modules.get("shop.aws")
    clients = aws.client.cache_info().currsize if aws is not None else 0
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location(f"bench_handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    elapsed = time.perf_counter() - start
    if not callable(getattr(module, attribute, None)):
        raise SystemExit(f"{path} has no callable {attribute}")
    aws = sys.modules.get("shop.aws")
    reports[name] = {
        "import_ms": elapsed * 1000,
        "network": events[seen:],
        "aws_clients": (aws.client.cache_info().currsize if aws is not None else 0) - clients,
    }
print(json.dumps(reports))
"""


@dataclass
class HandlerTiming:
    logical_id: str
    handler: str  # path relative to the repository, with the handler attribute
    network: list[str]  # connections and name lookups while it was imported
    aws_clients: int  # AWS clients created while it was imported
    import_ms: list[float] = field(default_factory=list)
    process_ms: list[float] = field(default_factory=list)
    modules: int = 0  # modules it loads into a fresh interpreter

    @property
    def median_import_ms(self) -> float:
        return statistics.median(self.import_ms)

    @property
    def median_process_ms(self) -> float:
        return statistics.median(self.process_ms)


@dataclass
class PackageCost:
    package: str
    self_ms: float
    modules: int


@dataclass
class ImportEntry:
    package: str  # a third-party package the handler's or the project's code loads
    importers: list[str]  # the handler or project modules that were executing when it did
    cumulative_ms: float  # with everything it pulled in that was not loaded yet
    loads: int  # how many separate imports of the package (or its submodules) that took


@dataclass
class Profile:
    total_ms: float  # the sum of self times under -X importtime
    packages: list[PackageCost]  # by self time, heaviest first
    entries: list[ImportEntry]  # by cumulative time, heaviest first


@dataclass
class ImportReport:
    repeats: int
    python: str
    interpreter_ms: list[float]
    cold_cache_ms: float  # the first load of all, which compiled every module's bytecode
    cold_cache_handler: str
    handlers: list[HandlerTiming]
    heaviest: HandlerTiming
    profile: Profile


def dummy_environment(template: Template, spec: FunctionSpec, cache_dir: Path) -> dict[str, str]:
    """What a Lambda of this function would see, with made-up resource names."""
    resolved = template.resolve(spec.environment, lambda logical_id, _attr: f"bench-{logical_id}")
    env = {key: str(value) for key, value in resolved.items()}
    env.update(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench-dummy",
            "AWS_SECRET_ACCESS_KEY": "bench-dummy",
            "AWS_SESSION_TOKEN": "bench-dummy",
            # Port 9 (discard): nothing answers, should anything try to call AWS at import.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "PYTHONPYCACHEPREFIX": str(cache_dir),
        }
    )
    return env


def module_path(spec: FunctionSpec) -> tuple[Path, str]:
    module_name, attribute = spec.handler.rsplit(".", 1)
    return spec.code_uri / f"{module_name.replace('.', '/')}.py", attribute


def run_child(path: Path, attribute: str, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Load one handler module in a fresh interpreter: (its report, process wall time in ms)."""
    command = [sys.executable, "-c", CHILD, str(path), attribute, MARKER]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall_ms = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"loading {path} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report, wall_ms


def check_all(
    template: Template, specs: list[FunctionSpec], cache_dir: Path
) -> dict[str, dict[str, Any]]:
    """The untimed first load of every handler, in one interpreter (see CHECK_ALL)."""
    env: dict[str, str] = {}
    for spec in specs:
        env.update(dummy_environment(template, spec, cache_dir))
    handlers = []
    for spec in specs:
        path, attribute = module_path(spec)
        handlers.append([spec.logical_id, str(path), attribute])
    done = subprocess.run(
        [sys.executable, "-c", CHECK_ALL, json.dumps(handlers)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loading the handlers failed:\n{done.stderr}")
    reports: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return reports


def interpreter_baseline(env: dict[str, str], repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        timings.append((time.perf_counter() - start) * 1000)
    return timings[1:]


def import_profile(template: Template, spec: FunctionSpec, cache_dir: Path) -> Profile:
    """Load the handler under -X importtime. Self time is attributed to top-level packages;
    a third-party module imported straight from the handler or the project's own code is an
    entry point, and its cumulative time is what the project pays for importing it."""
    path, attribute = module_path(spec)
    env = dummy_environment(template, spec, cache_dir)
    command = [sys.executable, "-X", "importtime", "-c", CHILD, str(path), attribute, MARKER]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    lines = done.stderr.splitlines()
    rows: list[tuple[str, int, int, int]] = []  # module, depth, self us, cumulative us
    for line in lines[lines.index(MARKER) + 1 :]:
        fields = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(fields) != 3:
            continue
        if not fields[0].strip().isdigit():
            continue  # the header line
        name = fields[2].rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), depth, int(fields[0]), int(fields[1])))

    self_us: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for module, _depth, own, _cumulative in rows:
        package = module.split(".", 1)[0]
        self_us[package] += own
        counts[package] += 1
    ranked = sorted(self_us, key=lambda p: self_us[p], reverse=True)

    # The output is in post-order: a module's importer is the next row one level up. An entry
    # point's subtree holds no other entry point (third-party code does not import `shop`).
    entries: dict[str, ImportEntry] = {}
    for i, (module, depth, _own, cumulative) in enumerate(rows):
        package = module.split(".", 1)[0]
        if package_kind(package) != "third-party":
            continue
        importer = next((r[0] for r in rows[i + 1 :] if r[1] == depth - 1), spec.handler)
        if depth != 0 and package_kind(importer.split(".", 1)[0]) != "project":
            continue
        entry = entries.setdefault(package, ImportEntry(package, [], 0.0, 0))
        entry.cumulative_ms += cumulative / 1000
        entry.loads += 1
        if importer not in entry.importers:
            entry.importers.append(importer)
    return Profile(
        total_ms=sum(self_us.values()) / 1000,
        packages=[PackageCost(p, self_us[p] / 1000, counts[p]) for p in ranked],
        entries=sorted(entries.values(), key=lambda e: e.cumulative_ms, reverse=True),
    )


def measure(repeats: int = 5, template_path: Path = TEMPLATE) -> ImportReport:
    template = Template(template_path)
    specs = template.functions()
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        cache_dir = Path(cache)
        checks = check_all(template, specs, cache_dir)
        handlers = [
            HandlerTiming(
                logical_id=spec.logical_id,
                handler=f"{path.relative_to(common.REPO_ROOT)}:{attribute}",
                network=list(checks[spec.logical_id]["network"]),
                aws_clients=int(checks[spec.logical_id]["aws_clients"]),
            )
            for spec in specs
            for path, attribute in [module_path(spec)]
        ]
        cold_ms = float(checks[specs[0].logical_id]["import_ms"])  # it compiled everything
        environments = [dummy_environment(template, spec, cache_dir) for spec in specs]
        interpreter = interpreter_baseline(environments[0], repeats)
        # Round-robin over the handlers, so that drift in the machine's speed is shared out.
        for _ in range(repeats):
            for spec, timing, env in zip(specs, handlers, environments, strict=True):
                path, attribute = module_path(spec)
                report, wall = run_child(path, attribute, env)
                timing.import_ms.append(float(report["import_ms"]))
                timing.process_ms.append(wall)
                timing.modules = int(report["modules"])
        for timing in handlers:
            print(
                f"  {timing.logical_id:36} {timing.median_import_ms:8.1f} ms import "
                f"(runs: {', '.join(f'{t:.1f}' for t in timing.import_ms)})",
                file=sys.stderr,
            )
        heaviest = max(handlers, key=lambda h: h.median_import_ms)
        heaviest_spec = next(s for s in specs if s.logical_id == heaviest.logical_id)
        profile = import_profile(template, heaviest_spec, cache_dir)
    return ImportReport(
        repeats=repeats,
        python=sys.version.split()[0],
        interpreter_ms=interpreter,
        cold_cache_ms=cold_ms,
        cold_cache_handler=handlers[0].logical_id,
        handlers=handlers,
        heaviest=heaviest,
        profile=profile,
    )


def package_kind(package: str) -> str:
    if package in sys.stdlib_module_names:
        return "stdlib"
    return "project" if package in PROJECT_PACKAGES else "third-party"


def to_markdown(report: ImportReport) -> str:
    interpreter_ms = statistics.median(report.interpreter_ms)
    rows = [
        f"Each handler module loaded in a fresh `python` process (Python {report.python}); "
        f"**median of {report.repeats} runs** per handler (handlers taken in turn), after one "
        "untimed load of every handler in a single interpreter that filled the bytecode cache "
        "and watched for network use and AWS clients. *Import* is the load of the module file "
        "alone, timed inside the child; *process* is the child's wall time as the parent saw "
        "it: spawn, interpreter start-up and the load (the child then leaves with `os._exit`, "
        "skipping interpreter teardown, which no cold start pays).",
        "",
        "| Function | Handler | Import ms (median) | Import ms (min-max) | Process ms (median) "
        "| Modules loaded | Network / AWS clients at import |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for h in sorted(report.handlers, key=lambda h: h.median_import_ms, reverse=True):
        network = (
            "none"
            if not h.network and h.aws_clients == 0
            else f"{len(h.network)} connects, {h.aws_clients} clients"
        )
        rows.append(
            f"| {h.logical_id} | `{h.handler}` | {h.median_import_ms:.1f} "
            f"| {min(h.import_ms):.1f}-{max(h.import_ms):.1f} | {h.median_process_ms:.1f} "
            f"| {h.modules} | {network} |"
        )
    rows.append(f"| *bare interpreter (`python -c pass`)* | | | | {interpreter_ms:.1f} | | |")
    heaviest, profile = report.heaviest, report.profile
    rows += [
        "",
        f"With an empty bytecode cache (every module compiled from source) the first load, of "
        f"{report.cold_cache_handler}, took {report.cold_cache_ms:.0f} ms.",
        "",
        f"Heaviest handler: **{heaviest.logical_id}**, loaded once more under "
        "`-X importtime` (the traced load's own total is "
        f"{profile.total_ms:.1f} ms, against {heaviest.median_import_ms:.1f} ms untraced). "
        f"The top {TOP_PACKAGES} packages by import time: each module's self time, summed per "
        "top-level package:",
        "",
        "| Package | Kind | Self ms | Share | Modules |",
        "|---|---|---:|---:|---:|",
    ]
    total = profile.total_ms or 1.0
    for package in profile.packages[:TOP_PACKAGES]:
        rows.append(
            f"| `{package.package}` | {package_kind(package.package)} | {package.self_ms:.1f} "
            f"| {100 * package.self_ms / total:.0f}% | {package.modules} |"
        )
    rest: dict[str, list[PackageCost]] = defaultdict(list)
    for package in profile.packages[TOP_PACKAGES:]:
        rest[package_kind(package.package)].append(package)
    for kind in ("third-party", "project", "stdlib"):
        group = rest.get(kind, [])
        if group:
            group_ms = sum(p.self_ms for p in group)
            rows.append(
                f"| *{len(group)} other {kind} packages* | {kind} | {group_ms:.1f} "
                f"| {100 * group_ms / total:.0f}% | {sum(p.modules for p in group)} |"
            )
    rows += [
        "",
        "The same load seen from the project's side: what each third-party package costs "
        "where the handler or the `shop` package imports it, including everything it pulled "
        "in that was not loaded yet (cumulative time, so the first to load a shared dependency "
        "pays for it):",
        "",
        "| Third-party package | Loaded while executing | Cumulative ms | Share |",
        "|---|---|---:|---:|",
    ]
    for entry in profile.entries[:TOP_PACKAGES]:
        importers = ", ".join(f"`{m}`" for m in entry.importers[:3])
        if len(entry.importers) > 3:
            importers += f" and {len(entry.importers) - 3} more"
        rows.append(
            f"| `{entry.package}` | {importers} | {entry.cumulative_ms:.1f} "
            f"| {100 * entry.cumulative_ms / total:.0f}% |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per handler")
    args = common.parse_arguments(parser, argv)
    print(f"handler import time: {args.repeats} runs per handler", file=sys.stderr)
    common.publish(to_markdown(measure(args.repeats)), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
