"""What the benchmark scripts share: the machine, the statistics, the report's header, `main`,
and a load generator in a process of its own (`send_load`).

The scripts run as `python bench/NAME.py` (run_all.py starts them that way too), which puts this
folder first on `sys.path`, so they import this module as `common`. mypy checks this folder as
the namespace package `bench` (pyproject.toml), so for mypy they import it as `bench.common`:

    if TYPE_CHECKING:
        import bench.common as common
    else:
        import common
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- the machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{os.cpu_count()} logical cores ({usable} usable)"


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def machine(packages: Sequence[str]) -> str:
    """CPU, cores, Python and the versions of `packages`, for a report's header."""
    versions = ", ".join(f"{name} {package_version(name)}" for name in packages)
    return f"{cpu_model()}, {cores()}; {python_version()}; {versions}"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + (" with uncommitted changes" if git("status", "--porcelain") else "")


# ---------------------------------------------------------------------- statistics
def cpu_seconds() -> float:
    """CPU this process has used so far, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------------- the report
def command_line(script: str, argv: list[str]) -> str:
    """The command line of `script` (a file in bench/) as run from the repository root, without
    `--markdown` (run_all.py gives each benchmark its own output file)."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--markdown":
            skip = True
        elif not arg.startswith("--markdown="):
            shown.append(arg)
    python = Path(sys.executable)
    try:
        executable = str(python.relative_to(REPO_ROOT))
    except ValueError:
        executable = str(python)
    return shlex.join([executable, str(Path(script).resolve().relative_to(REPO_ROOT)), *shown])


def header(
    *,
    started: datetime,
    seconds: float,
    command: str,
    loads: tuple[str, str],
    packages: Sequence[str],
    commit: str | None = None,
) -> list[str]:
    """The first lines of a benchmark's section: when, how and on what it ran."""
    at_commit = "" if commit is None else f", at commit {commit}"
    return [
        f"- **Date**: {started.strftime('%Y-%m-%d %H:%M UTC')} "
        f"(this benchmark took {seconds:.0f} s)",
        f"- **Command**: `{command}`, from the repository root{at_commit}",
        f"- **Machine**: {machine(packages)}",
        f"- **Load average** (1/5/15 min) at the start: {loads[0]}; at the end: {loads[1]}",
    ]


# ---------------------------------------------------------------------- main
def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's parser, described by the first paragraph of its docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n", 1)[0])


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Add the `--markdown` option every benchmark has (run_all.py relies on it; added last, so
    `--help` lists it last) and parse `argv`."""
    parser.add_argument("--markdown", type=Path, help="also write the markdown section here")
    return parser.parse_args(argv)


def publish(markdown: str, path: Path | None) -> None:
    """Print a benchmark's markdown section, and write it to `path` (`--markdown`) if given."""
    print(markdown)
    if path:
        path.write_text(markdown)


def splice_section(document: Path, heading: str, section: str, new_document: str) -> None:
    """Put `section` (starting with `## heading`) into `document`, replacing the one there (up
    to the next `## ` heading) and keeping the rest; a missing document starts as
    `new_document` (its title and introduction)."""
    text = document.read_text() if document.exists() else new_document
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    document.write_text(text)


def replay_arguments(argv: list[str] | None, reads: int) -> argparse.Namespace:
    """The options of a benchmark that replays the demo data's orders against a platform."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=reads, help="reads per run")
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--start", default="2011-09-01", help="replay orders from this day")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- load
Request = tuple[str, str, dict[str, str], str]  # method, path, headers, body


def send_load(job: dict[str, Any]) -> dict[str, Any]:
    """Run `generate_load(job)` in a process of its own (a client does not share the measured
    interpreter) and return what it measured."""
    done = subprocess.run(
        [sys.executable, __file__, "load"],
        input=json.dumps(job),
        check=True,
        capture_output=True,
        text=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def generate_load(job: dict[str, Any]) -> dict[str, Any]:
    """Send each of `entries` (its requests, one after the other) to `host`:`port` over
    `connections` keep-alive connections, at `rate` entries a second on a fixed schedule (open
    loop: an entry's latency counts from when it was due), or with `rate` 0 each connection's
    next entry once the last is answered. A request whose connection broke is sent once more.

    Returns each entry's (milliseconds, highest status of its answers), the wall time of the
    first send, the seconds from it to the last answer, and this process's CPU seconds."""
    entries: list[list[Request]] = job["entries"]
    rate = float(job["rate"])
    answers: list[tuple[float, int]] = []
    lock = threading.Lock()
    upcoming = iter(range(len(entries)))
    began = time.perf_counter() + 0.2  # every connection open before the first entry is due
    first_sent = time.time() + 0.2

    def connection() -> None:
        link = http.client.HTTPConnection(job["host"], int(job["port"]), timeout=300)
        while True:
            with lock:
                index = next(upcoming, None)
            if index is None:
                break
            due = began + index / rate if rate else max(began, time.perf_counter())
            time.sleep(max(0.0, due - time.perf_counter()))
            status = 0
            for method, path, headers, body in entries[index]:
                for attempt in range(2):
                    try:
                        link.request(method, path, body=body.encode(), headers=headers)
                        answer = link.getresponse()
                        answer.read()
                        break
                    except (OSError, http.client.HTTPException):
                        link.close()
                        if attempt:
                            raise
                status = max(status, answer.status)
            with lock:
                answers.append(((time.perf_counter() - due) * 1000, status))
        link.close()

    cpu_before = cpu_seconds()
    workers = [threading.Thread(target=connection) for _ in range(int(job["connections"]))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "answers": answers,
        "first_sent": first_sent,
        "seconds": time.perf_counter() - began,
        "cpu": cpu_seconds() - cpu_before,
    }


if __name__ == "__main__" and sys.argv[1:] == ["load"]:  # send_load's process
    print(json.dumps(generate_load(json.load(sys.stdin))))
