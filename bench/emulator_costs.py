"""Emulator costs: checkout latency and catalog reads at 1x and 10x the demo data, and memory over
many checkouts, with shop_local.moto_speed not installed (before) and installed (after).

Each scale runs in its own process (`--child`): a fresh platform, the demo data loaded
(`shop_local.demo.load_demo`, as `make run` does), and for 10x every item of the catalog and
inventory tables copied 9 more times straight into moto's tables (keys suffixed, index
attributes kept: the listing and category index buckets grow 10x too; the copies' stream
records are not made, so the outbox publishers stay idle). Then, over HTTP as a client would:
sequential checkouts as bench/checkout_costs.py drives them (a 2-line cart, `pm_card_visa`,
polls every 50 ms), and `GET /products?limit=20` and `GET /products?category=...&limit=20`.
The platform starts with `SHOP_MOTO_SPEED=0` (the seam not installed): "before" is measured,
then `moto_speed.install()` and "after" in the same process (so "after" runs on the larger
tables "before" left).

Memory: then `--memory N` more checkouts in the first scale's process (seam installed): the
process's RSS every 100 checkouts (nothing traced, which would inflate it), and between
checkout 100 and N what the emulators hold (items, stream records, iterators, executions,
queued messages, the items' pickled size) and the live objects that grew most, by type.

    .venv/bin/python bench/emulator_costs.py [--checkouts 20] [--runs 3] [--reads 30]
        [--memory 1000] [--scales 1,10] [--modes after,before] [--markdown OUT.md]
"""

from __future__ import annotations

import collections
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.checkout_costs as checkout_costs
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import checkout_costs
    import common

PACKAGES = ("moto", "boto3", "localstripe", "stripe")


# ---------------------------------------------------------------------- in the child
def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def multiply_demo_data(local: Any, scale: int) -> dict[str, int]:
    """Copy every item of the demo's tables `scale - 1` more times, keys suffixed."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import Item

    from shop_local.moto_fidelity import _LOCK

    backend = dynamodb_backends["123456789012"][os.environ["AWS_DEFAULT_REGION"]]
    sizes = {}
    with _LOCK:
        for logical in ("CatalogTable", "InventoryTable"):
            table = backend.get_table(local.provisioner.refs[logical])
            shard, table.stream_shard = table.stream_shard, None  # no outbox work for copies
            if table.range_key_attr is None:
                items = [i for i in table.items.values() if isinstance(i, Item)]
            else:
                items = [i for p in table.items.values() for i in p.values()]
            for copy in range(1, scale):
                for item in items:
                    attrs = item.to_json()["Attributes"]
                    attrs[table.hash_key_attr] = {"S": f"{attrs[table.hash_key_attr]['S']}#x{copy}"}
                    table.put_item(attrs)
            table.stream_shard = shard
            sizes[logical] = sum(
                len(p) if table.range_key_attr else 1 for p in table.items.values()
            )
    return sizes


def timed_get(client: checkout_costs.Client, path: str, reads: int) -> float:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        client.call("GET", path, "bench-reader")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def setup(client: checkout_costs.Client) -> list[str]:
    """The benchmark's products and stock; tried again on an error (a 502 is a function's
    timeout under load, and "before" is slow), with fresh SKUs."""
    for attempt in range(3):
        try:
            return checkout_costs.stock_skus(client, f"bench-{uuid.uuid4().hex[:6]}")
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def measure(local: Any, client: Any, skus: list[str], args: Any, tag: str) -> dict[str, Any]:
    checkout_costs.latency_run(client, skus, 3, 1, f"warmup-{tag}")
    local.wait_until_idle(timeout=120)
    result: dict[str, Any] = {
        "products_ms": timed_get(client, "/products?limit=20", args.reads),
        "category_ms": timed_get(client, "/products?category=christmas&limit=20", args.reads),
        "p50_ms": [],
        "p95_ms": [],
    }
    for run in range(args.runs):
        timing = checkout_costs.latency_run(client, skus, args.checkouts, 1, f"{tag}{run}")
        result["p50_ms"].append(timing.p(50))
        result["p95_ms"].append(timing.p(95))
        local.wait_until_idle(timeout=120)
    return result


def child(scale: int, args: Any) -> None:
    """Before (moto as is), then the seam installed in the same process, then after."""
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    from shop_local import moto_speed
    from shop_local.demo import load_demo
    from shop_local.platform import LocalPlatform

    results: list[dict[str, Any]] = []
    os.environ["SHOP_MOTO_SPEED"] = "0"  # LocalPlatform.start leaves moto as it is
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            started = time.perf_counter()
            load_demo()
            local.wait_until_idle(timeout=900)
            load_s = time.perf_counter() - started
            tables = multiply_demo_data(local, scale)
            client = checkout_costs.Client(local)
            skus = setup(client)
            for mode in args.modes.split(","):
                if mode == "after":
                    os.environ["SHOP_MOTO_SPEED"] = "1"
                    moto_speed.install()
                else:
                    moto_speed.uninstall()
                try:
                    measured = measure(local, client, skus, args, mode)
                except RuntimeError as error:  # a checkout failed: say so, go on
                    measured = {"failed": str(error)[:300]}
                results.append(
                    {"mode": mode, "scale": scale, "tables": tables, "load_s": load_s, **measured}
                )
                print(f"    {results[-1]}", file=sys.stderr, flush=True)
            if args.memory:
                os.environ["SHOP_MOTO_SPEED"] = "1"
                moto_speed.install()
                results.append(
                    {
                        "mode": "after",
                        "scale": scale,
                        "memory": memory_run(local, client, skus, args.memory),
                    }
                )
        finally:
            local.stop()
    print("RESULT " + json.dumps(results), flush=True)


def held() -> dict[str, int]:
    """What the emulators hold: every table's items and stream records, shard iterators, state
    machine executions, queued messages, and the tables' items pickled (their size in bytes:
    the data itself, as the state journal's snapshot holds it)."""
    import pickle

    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    from moto.sqs.models import sqs_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    counts = collections.Counter[str]()
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            for table in backend.tables.values():
                partitions = table.items.values()
                counts["items"] += sum(len(p) if table.range_key_attr else 1 for p in partitions)
                shard = table.stream_shard
                counts["stream records"] += len(shard.items) if shard else 0
                counts["items, pickled bytes"] += len(pickle.dumps(table.items))
    for stream_regions in dynamodbstreams_backends.values():
        for streams in stream_regions.values():
            counts["shard iterators"] += len(streams.shard_iterators)
    for sfn_regions in stepfunctions_parser_backends.values():
        for machines in sfn_regions.values():
            for machine in machines.state_machines:
                counts["executions"] += len(machine.executions)
    for sqs_regions in sqs_backends.values():
        for queues in sqs_regions.values():
            counts["queued messages"] += sum(len(q._messages) for q in queues.queues.values())
    return dict(counts)


def census() -> collections.Counter[str]:
    """Live objects by type, after a collection (no tracing while the checkouts run)."""
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def memory_run(
    local: Any, client: checkout_costs.Client, skus: list[str], total: int
) -> dict[str, Any]:
    rss: list[tuple[int, float]] = []
    done = 0
    first: tuple[collections.Counter[str], dict[str, int]] | None = None
    while done < total:
        checkout_costs.latency_run(client, skus, 100, 1, f"m{done}")
        local.wait_until_idle(timeout=60)
        done += 100
        rss.append((done, rss_mb()))
        if done == 100:
            first = census(), held()
    assert first is not None
    objects, holds = census() - first[0], held()
    per = max(1, done - 100)
    return {
        "rss": rss,
        "objects": [(name, count / per) for name, count in objects.most_common(10)],
        "held": {name: (first[1].get(name, 0), holds[name]) for name in holds},
    }


# ---------------------------------------------------------------------- the parent
def run_child(scale: int, args: Any, memory: int) -> list[dict[str, Any]]:
    command = [sys.executable, __file__, "--child", str(scale), "--modes", args.modes]
    command += ["--checkouts", str(args.checkouts), "--runs", str(args.runs)]
    command += ["--reads", str(args.reads), "--memory", str(memory)]
    print(f"  {scale}x ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr[-2000:] if done.returncode else "")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            results: list[dict[str, Any]] = json.loads(line[len("RESULT ") :])
            return results
    raise RuntimeError(f"{scale}x failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def to_markdown(
    results: list[dict[str, Any]], memory: list[dict[str, Any]], head: list[str], args: Any
) -> str:
    lines = [
        *head,
        f"- **Statistic**: checkout p50/p95 of {args.checkouts} sequential checkouts per run, "
        f"**median of {args.runs} runs**; reads: median of {args.reads} requests each",
        "",
        "| Seam | Demo data | Catalog items | Inventory items | Checkout p50 ms | Checkout p95 ms "
        "| GET /products?limit=20 ms | GET /products?category=christmas&limit=20 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {r['mode']} | {r['scale']}x | | | failed: {r['failed']} | | | |")
            continue
        seam = "moto_speed" if r["mode"] == "after" else "none (moto as is)"
        lines.append(
            f"| {seam} | {r['scale']}x | {r['tables']['CatalogTable']:,} "
            f"| {r['tables']['InventoryTable']:,} | {statistics.median(r['p50_ms']):.0f} "
            f"| {statistics.median(r['p95_ms']):.0f} | {r['products_ms']:.1f} "
            f"| {r['category_ms']:.1f} |"
        )
    for m in memory:
        rss = m["memory"]["rss"]
        seam = "moto_speed" if m["mode"] == "after" else "none"
        (n0, r0), (n1, r1) = rss[0], rss[-1]
        per = (r1 - r0) * 1024 / max(1, n1 - n0)
        lines += [
            "",
            f"**Memory** (seam: {seam}, 1x): RSS after each 100 checkouts, MB: "
            + ", ".join(f"{v:.0f}" for _n, v in rss)
            + f"; from checkout {n0} to {n1}: {per:.0f} KB per checkout (nothing traced).",
            "",
            f"What the emulators held at checkout {n0} and at {n1}:",
            "",
            f"| Held | At {n0} | At {n1} | Per checkout |",
            "|---|---:|---:|---:|",
            *[
                f"| {name} | {a:,} | {b:,} | {(b - a) / max(1, n1 - n0):,.1f} |"
                for name, (a, b) in m["memory"]["held"].items()
            ],
            "",
            f"Live objects that grew most from checkout {n0} to {n1} (by type, per checkout):",
            "",
            "| Type | Per checkout |",
            "|---|---:|",
            *[f"| `{name}` | {count:.1f} |" for name, count in m["memory"]["objects"]],
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = common.argument_parser(__doc__)
    parser.add_argument("--checkouts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--memory", type=int, default=1000, help="checkouts (0: none)")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--modes", default="before,after")
    parser.add_argument("--child", type=int, metavar="SCALE", help=argparse_hidden())
    args = common.parse_arguments(parser, argv)
    if args.child:
        child(args.child, args)
        return 0
    started, clock, load = datetime.now(UTC), time.perf_counter(), common.load_average()
    everything = [
        result
        for i, scale in enumerate(args.scales.split(","))
        for result in run_child(int(scale), args, args.memory if i == 0 else 0)
    ]
    results = [r for r in everything if "memory" not in r]
    memory = [r for r in everything if "memory" in r]
    head = common.header(
        started=started,
        seconds=time.perf_counter() - clock,
        command=common.command_line(__file__, argv),
        loads=(load, common.load_average()),
        packages=PACKAGES,
        commit=common.git_revision(),
    )
    common.publish(to_markdown(results, memory, head, args), args.markdown)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
