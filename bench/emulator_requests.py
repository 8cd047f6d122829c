"""Every request the emulator (moto's server) answers while sequential checkouts run, by service
and action, per checkout: the saga's own and the background's (stream and queue pollers).

A fresh `LocalPlatform` in this process, 8 stocked products, 3 warm-up checkouts, then
`--checkouts` sequential ones driven as bench/checkout_costs.py drives them (a 2-line cart,
polls every 50 ms). Requests are counted at moto's WSGI application, so nothing a poller or a
function sends is missed.

    .venv/bin/python bench/emulator_requests.py [--checkouts 20]
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # mypy knows this folder as the namespace package `bench`
    import bench.checkout_costs as checkout_costs
else:  # run as `python bench/NAME.py`, with this folder first on sys.path
    import checkout_costs


def action_of(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, action) of a request to moto: the signing scope names the service; JSON
    protocols name the action in X-Amz-Target, Lambda's REST API in its path."""
    scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    return service, "Invoke" if path.endswith("/invocations") else path[:40]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=20)
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from shop_local.platform import LocalPlatform

    counts = collections.Counter[tuple[str, str]]()
    lock, counting = threading.Lock(), threading.Event()
    answer = DomainDispatcherApplication.__call__

    def counted(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if counting.is_set():
            with lock:
                counts[action_of(environ)] += 1
        return answer(self, environ, start_response)

    DomainDispatcherApplication.__call__ = counted  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as state:
        local = LocalPlatform(port=0, state_dir=Path(state)).start()
        try:
            client = checkout_costs.Client(local)
            skus = checkout_costs.stock_skus(client, "requests")
            checkout_costs.latency_run(client, skus, 3, 1, "warmup")
            local.wait_until_idle(timeout=60)
            counting.set()
            run = checkout_costs.latency_run(client, skus, args.checkouts, 1, "counted")
            counting.clear()
        finally:
            local.stop()
    n = args.checkouts
    print(f"{n} sequential checkouts, p50 {run.p(50):.0f} ms")
    print("| Service | Action | Requests per checkout |\n|---|---|---:|")
    for (service, action), count in counts.most_common():
        print(f"| {service} | {action} | {count / n:.1f} |")
    print(f"| all | | {sum(counts.values()) / n:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
