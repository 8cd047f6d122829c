"""`shop`: the local platform's command line.

shop serve [--port 3000] [--demo]     start the whole platform (Ctrl-C stops it)
shop token USER [--admin]             print an ID token for USER
shop load-demo                        load the demo catalog and stock into a running platform
shop openapi [--check]                write openapi.yaml and events/schemas/ from the code
shop metrics                          a running platform's figures, queue depths and circuits
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import requests

from shop_local.auth import LocalIdentityProvider
from shop_local.platform import (
    DEFAULT_OPENAPI,
    DEFAULT_STATE_DIR,
    DEFAULT_TEMPLATE,
    PLATFORM_FILE,
    LocalPlatform,
    control_headers,
    use_emulator,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the local platform")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--moto-port", type=int, default=0)
    serve.add_argument("--demo", action="store_true", help="load the demo catalog and stock")
    serve.add_argument(
        "--fresh",
        action="store_true",
        help="forget what the last run left in the state folder (data, payments, search index)",
    )
    serve.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    serve.add_argument("--openapi", type=Path, default=DEFAULT_OPENAPI)
    serve.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as for sam deploy",
    )

    token = commands.add_parser("token", help="print an ID token")
    token.add_argument("user")
    token.add_argument("--admin", action="store_true", help="put the user in the admin group")
    token.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")

    commands.add_parser("load-demo", help="load the demo data into a running platform")
    contracts = commands.add_parser(
        "openapi", help="write openapi.yaml and events/schemas/ from the code (models, contracts)"
    )
    contracts.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is out of date"
    )
    commands.add_parser(
        "reindex",
        help="rebuild the search index of a running platform from its catalog (built aside, "
        "then swapped in: searches go on meanwhile)",
    )
    commands.add_parser(
        "check-inventory", help="re-derive stock from the ledger of a running platform and compare"
    )
    commands.add_parser(
        "metrics",
        help="the figures a running platform's functions recorded, its queues' depths and its "
        "circuits, as CloudWatch would show them",
    )
    flash = commands.add_parser(
        "flash-sale-demo",
        help="on a running platform: an admin opens a sale, a crowd enters at once, the winners "
        "buy at the sale price, everyone else is told they lost; then stock and ledger are checked",
    )
    flash.add_argument("--units", type=int, default=50)
    flash.add_argument("--shoppers", type=int, default=500)

    args = parser.parse_args(argv)
    if args.command == "token":
        print(
            LocalIdentityProvider(args.state_dir).issue(
                args.user, admin=args.admin, ttl_seconds=args.ttl
            )
        )
        return 0
    if args.command == "load-demo":
        return _load_demo_into_running(args.state_dir)
    if args.command == "openapi":
        return _write_contracts(check=args.check)
    if args.command == "check-inventory":
        return _check_inventory(args.state_dir)
    if args.command == "reindex":
        return _reindex(args.state_dir)
    if args.command == "metrics":
        return _metrics(args.state_dir)
    if args.command == "flash-sale-demo":
        return _flash_sale_demo(args.state_dir, args.units, args.shoppers)
    platform = LocalPlatform(
        port=args.port,
        moto_port=args.moto_port,
        state_dir=args.state_dir,
        template_path=args.template.resolve(),
        openapi_path=args.openapi.resolve(),
        parameter_overrides=dict(item.split("=", 1) for item in args.parameter_overrides),
    )
    if args.fresh:
        platform.forget_state()
    return _serve(platform, args.demo)


def _serve(platform: LocalPlatform, demo: bool) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    started = time.monotonic()
    # With the demo, start() returns once the data is in: API routes answer 503 until then.
    platform.demo = demo
    platform.start()
    print(f"shop: API on {platform.url}  (AWS emulator on {platform.endpoint})", flush=True)
    print(f"shop: storefront on {platform.storefront_url}", flush=True)
    if demo:
        print(f"shop: demo data loaded: {platform.demo_summary}", flush=True)
    print(
        f"shop: ready in {time.monotonic() - started:.1f}s; "
        f"try: curl {platform.url}/products?limit=3",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    platform.stop()
    return 0


def _write_contracts(*, check: bool) -> int:
    """The generated contracts: the API document and the events' JSON Schemas."""
    from shop_local import event_schemas, openapi

    wanted = {openapi.OUTPUT: openapi.expected(), **event_schemas.expected()}
    stale_schemas = set(event_schemas.SCHEMAS.glob("*.json")) - set(wanted)
    out_of_date = sorted(
        {p for p, text in wanted.items() if not p.exists() or p.read_text() != text} | stale_schemas
    )
    for path in out_of_date:
        done = "removed" if path in stale_schemas else "wrote"
        print(f"{'out of date' if check else done}: {path.relative_to(openapi.REPO_ROOT)}")
    if check:
        return 1 if out_of_date else 0
    openapi.write()
    event_schemas.write()
    return 0


def _attach_to_running(state_dir: Path) -> bool:
    """Point this process at the platform `shop serve` started with the same state dir."""
    platform_file = state_dir / PLATFORM_FILE
    if not platform_file.exists():
        print(
            f"no running platform: {platform_file} is missing (start it with `shop serve`)",
            file=sys.stderr,
        )
        return False
    info = json.loads(platform_file.read_text())
    try:  # the file outlives a platform that was killed: ask the platform itself
        requests.get(f"{info['url']}/_local/health", timeout=5).raise_for_status()
    except requests.RequestException:
        print(f"no running platform at {info['url']} (start it with `shop serve`)", file=sys.stderr)
        return False
    use_emulator(info["aws_endpoint"])
    os.environ.update(info["environment"])
    return True


def _load_demo_into_running(state_dir: Path) -> int:
    if not _attach_to_running(state_dir):
        return 1
    from shop_local.demo import load_demo

    print(json.dumps(load_demo()))
    return 0


def _metrics(state_dir: Path) -> int:
    if not _attach_to_running(state_dir):
        return 1
    from shop_local.figures import report

    info = json.loads((state_dir / PLATFORM_FILE).read_text())
    response = requests.get(f"{info['url']}/_local/metrics", timeout=30)
    response.raise_for_status()
    print(report(response.json()))
    return 0


def _reindex(state_dir: Path) -> int:
    """Run the template's ReindexSearchFunction inside the platform, as `aws lambda invoke`
    would on AWS."""
    if not _attach_to_running(state_dir):
        return 1
    info = json.loads((state_dir / PLATFORM_FILE).read_text())
    response = requests.post(
        f"{info['url']}/_local/invoke",
        json={"function": "ReindexSearchFunction", "event": {}},
        headers=control_headers(state_dir),
        timeout=900,
    )
    response.raise_for_status()
    outcome = response.json()
    if "error" in outcome:
        print(f"reindex failed: {outcome['error']['message']}", file=sys.stderr)
        return 1
    print(f"search index rebuilt: {outcome['result']['indexed']} products")
    return 0


def _flash_sale_demo(state_dir: Path, units: int, shoppers: int) -> int:
    if not _attach_to_running(state_dir):
        return 1
    from shop_local import flash_sale_demo

    info = json.loads((state_dir / PLATFORM_FILE).read_text())
    logging.disable(logging.WARNING)  # the functions' logs are the platform's, not this report's
    outcome = flash_sale_demo.run(
        info["url"], LocalIdentityProvider(state_dir), units=units, shoppers=shoppers
    )
    for step in outcome.steps:
        print(f"flash sale: {step}")
    for problem in outcome.problems:
        print(f"flash sale: PROBLEM: {problem}")
    print("flash sale: every invariant held" if not outcome.problems else "flash sale: FAILED")
    return 1 if outcome.problems else 0


def _check_inventory(state_dir: Path) -> int:
    if not _attach_to_running(state_dir):
        return 1
    from shop.inventory.audit import audit

    problems = audit()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems" if problems else "inventory: ledger and stock agree")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
