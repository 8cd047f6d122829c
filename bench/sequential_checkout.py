"""Sequential checkout latency on a fresh local platform, and the process's CPU per checkout.

A quick companion to bench/emulator_costs.py (which also grows the data and watches memory):
`LocalPlatform` in this process (state kept, as `make run` runs it), 8 stocked products,
3 warm-up checkouts, then `--checkouts` sequential ones driven as bench/checkout_costs.py
drives them (a 2-line cart, polls every 50 ms), `--runs` times, each in a fresh process.

Two figures each run: back to back (each checkout starts as the previous one ends, while that
one's events are still being consumed in the same interpreter), and at rest (each starts once
the platform is idle: its cart's and the previous order's events consumed, Stripe's webhooks
delivered), which is what one checkout costs where the consumers do not share its GIL, as on
AWS, where each is a function of its own.

    .venv/bin/python bench/sequential_checkout.py [--checkouts 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.checkout_costs as checkout_costs
    import bench.common as common
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import checkout_costs
    import common


def one_run(checkouts: int) -> tuple[float, float, float]:
    """(back-to-back p50 ms, process CPU ms per checkout, at-rest p50 ms) on a fresh platform."""
    from shop_local.platform import LocalPlatform

    with tempfile.TemporaryDirectory(prefix="bench-sequential-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            client = checkout_costs.Client(local)
            skus = checkout_costs.stock_skus(client, f"seq-{time.monotonic_ns()}")
            checkout_costs.latency_run(client, skus, 3, 1, "warmup")
            started = common.cpu_seconds()
            run = checkout_costs.latency_run(client, skus, checkouts, 1, "measured")
            cpu = (common.cpu_seconds() - started) / checkouts * 1000
            at_rest: list[float] = []
            for number in range(checkouts):
                user = f"bench-rest-{number}-{time.monotonic_ns()}"
                checkout_costs.fill_cart(client, user, skus, number)
                local.wait_until_idle()
                time.sleep(checkout_costs.QUIET_SECONDS)  # the webhooks of the last checkout
                at_rest.append(checkout_costs.checkout(client, user)[1].total * 1000)
            return run.p(50), cpu, statistics.median(at_rest)
        finally:
            local.stop()


RESULT = "sequential-checkout-result "


def run_in_a_fresh_process(checkouts: int) -> tuple[float, float, float]:
    """One run in a process of its own: the emulators' state is per process, so a second
    platform in the same one would meet the first one's resources."""
    child = subprocess.run(
        [sys.executable, __file__, "--checkouts", str(checkouts), "--one"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in child.stdout.splitlines() if line.startswith(RESULT))
    p50, cpu, at_rest = json.loads(line.removeprefix(RESULT))
    return float(p50), float(cpu), float(at_rest)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkouts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help="one run here, its result on stdout")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    if args.one:
        print(RESULT + json.dumps(one_run(args.checkouts)), flush=True)
        return 0
    results = [run_in_a_fresh_process(args.checkouts) for _ in range(args.runs)]
    for p50, cpu, at_rest in results:
        print(
            f"run: checkout p50 {p50:.0f} ms back to back, {at_rest:.0f} ms at rest; "
            f"process CPU {cpu:.0f} ms per checkout"
        )
    print(
        f"median of {args.runs}: p50 {statistics.median(r[0] for r in results):.0f} ms back to "
        f"back, {statistics.median(r[2] for r in results):.0f} ms at rest; "
        f"CPU {statistics.median(r[1] for r in results):.0f} ms per checkout"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
