"""Run every benchmark and rewrite their sections of docs/benchmarks.md (`make bench`).

Each benchmark runs as its own process (a fresh interpreter, so one cannot warm the other up)
and writes its markdown to a temporary file. This script then replaces, in the document, only
what lies between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` for the sections it owns;
everything else in the file (the hand-written interpretation, other sections) is kept. A section
whose markers are missing is appended under its own `##` heading.

    .venv/bin/python bench/run_all.py [--only imports|reads|inventory|checkout|search|
                                      recommendations] [--quick]
                                      [--doc PATH]
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import common

BENCH_DIR = Path(__file__).resolve().parent
DOC = common.REPO_ROOT / "docs" / "benchmarks.md"
PACKAGES = (
    "boto3",
    "moto",
    "werkzeug",
    "requests",
    "pydantic",
    "aws-lambda-powertools",
    "stripe",
)

SKELETON = """# Benchmarks

Measurements of the platform's own code on one machine: the local platform (moto and the local
API gateway, all in one Python process) and fresh interpreters loading the Lambda handlers. They
are for comparing changes to this code with each other, not for predicting latency on AWS.

Re-run with `make bench` (or `.venv/bin/python bench/run_all.py`). The script rewrites only the
text between each `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` marker pair; headings and the
interpretation around them are kept, so re-read the interpretation after a re-run. To add a
benchmark, give it a `##` section with its own marker pair and an entry in
`bench/run_all.py`'s `BENCHMARKS`.
"""


@dataclass(frozen=True)
class Benchmark:
    key: str  # the --only name
    section: str  # the marker name in the document
    title: str  # the ## heading, used when the section is new
    script: str  # in bench/
    quick_args: tuple[str, ...]  # for --quick: a smoke run, numbers not worth keeping


BENCHMARKS = (
    Benchmark(
        "imports",
        "handler-import-time",
        "Handler cold-start import time",
        "handler_import_time.py",
        ("--repeats", "2"),
    ),
    Benchmark(
        "reads",
        "catalog-reads",
        "Catalog reads: local gateway vs direct emulator calls",
        "catalog_reads.py",
        ("--duration", "1", "--runs", "1", "--warmup", "0.5", "--products", "100"),
    ),
    Benchmark(
        "inventory",
        "inventory-reservations",
        "Inventory reservations: one hot SKU, unsharded and sharded",
        "inventory_reservations.py",
        ("--reservations", "20", "--runs", "1"),
    ),
    Benchmark(
        "checkout",
        "checkout",
        "Checkout: latency, and what one order costs on AWS",
        "checkout_costs.py",
        ("--sequential", "3", "--concurrent", "4", "--buyers", "2", "--runs", "1"),
    ),
    Benchmark(
        "crowd",
        "checkout-crowd",
        "Checkout under a crowd: 1 to 200 concurrent buyers",
        "checkout_crowd.py",
        ("--crowds", "1", "8", "--runs", "1"),
    ),
    Benchmark(
        "emulator",
        "emulator-costs",
        "Emulator costs: checkout and catalog reads at 1x and 10x the demo data, memory",
        "emulator_costs.py",
        ("--scales", "1", "--checkouts", "3", "--runs", "1", "--reads", "3", "--memory", "0"),
    ),
    Benchmark(
        "search",
        "search-speed",
        "Search speed: in process and through the gateway, 3.3k to 1M products",
        "search_speed.py",
        ("--sizes", "0", "--rounds", "1", "--fresh", "3"),
    ),
    Benchmark(
        "recommendations",
        "recommendation-speed",
        "Recommendations: training and serving",
        "recommendation_speed.py",
        ("--scales", "1", "--runs", "1", "--requests", "20"),
    ),
)


# ---------------------------------------------------------------------- the machine
def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def os_name() -> str:
    pretty = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty}, kernel {platform.release()} ({platform.machine()})"


def package_versions() -> str:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(versions)


def machine_section() -> str:
    """What does not change from run to run; each benchmark's section says when and how it ran."""
    return "\n".join(
        [
            f"- **CPU**: {common.cpu_model()}, {common.cores()}, {memory_gib()} RAM",
            f"- **OS**: {os_name()}",
            f"- **Python**: {common.python_version()}",
            f"- **Packages**: {package_versions()}",
            "- **Command**: `make bench`, that is `.venv/bin/python bench/run_all.py` from the "
            "repository root (`--only NAME` re-runs one benchmark; each section names the "
            "command that produced it)",
            "- **Statistic**: every figure is the median of N runs; each section says N. The "
            "load average shows other work on the machine, which widens the spread.",
        ]
    )


@dataclass(frozen=True)
class Result:
    markdown: str
    started: datetime
    seconds: float
    loads: tuple[str, str]  # load average at the start and at the end
    commit: str  # at the start

    def provenance(self, argv: list[str]) -> str:
        return (
            f"*Measured {self.started.strftime('%Y-%m-%d %H:%M UTC')} with "
            f"`{common.command_line(__file__, argv)}` at commit {self.commit}, "
            f"in {self.seconds:.0f} s; "
            f"load average (1/5/15 min) {self.loads[0]} at the start, {self.loads[1]} at the "
            "end.*"
        )


# ---------------------------------------------------------------------- the document
def marker_pattern(section: str) -> re.Pattern[str]:
    name = re.escape(section)
    return re.compile(rf"<!-- bench:{name} -->\n.*?<!-- /bench:{name} -->", re.DOTALL)


def replace_section(document: str, section: str, title: str, body: str) -> str:
    block = f"<!-- bench:{section} -->\n{body.strip()}\n<!-- /bench:{section} -->"
    pattern = marker_pattern(section)
    if pattern.search(document):
        return pattern.sub(lambda _match: block, document, count=1)
    return f"{document.rstrip()}\n\n## {title}\n\n{block}\n"


def run_benchmark(benchmark: Benchmark, quick: bool, workdir: Path) -> Result:
    output = workdir / f"{benchmark.section}.md"
    command = [sys.executable, str(BENCH_DIR / benchmark.script), "--markdown", str(output)]
    if quick:
        command += benchmark.quick_args
    # No __pycache__ in the repository from these runs (the import benchmark keeps its own).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    print(f"$ {shlex.join(command)}", file=sys.stderr)
    started, load_at_start, commit = datetime.now(UTC), common.load_average(), common.git_revision()
    clock = time.perf_counter()
    subprocess.run(command, cwd=common.REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - clock
    print(f"{benchmark.script}: {seconds:.0f} s", file=sys.stderr)
    loads = (load_at_start, common.load_average())
    return Result(output.read_text(), started, seconds, loads, commit)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--only", choices=[b.key for b in BENCHMARKS], action="append", help="repeatable"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny settings")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document to update")
    args = parser.parse_args(arguments)

    clock = time.perf_counter()
    chosen = [b for b in BENCHMARKS if not args.only or b.key in args.only]
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        results = {b.section: run_benchmark(b, args.quick, Path(workdir)) for b in chosen}
    seconds = time.perf_counter() - clock

    document = args.doc.read_text() if args.doc.exists() else SKELETON
    document = replace_section(document, "environment", "Machine", machine_section())
    for benchmark in chosen:
        result = results[benchmark.section]
        body = f"{result.provenance(arguments)}\n\n{result.markdown}"
        document = replace_section(document, benchmark.section, benchmark.title, body)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(document)
    print(f"updated {args.doc} in {seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
