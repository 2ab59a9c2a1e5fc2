"""The `horus doctor` command line (also `nox -s doctor --` and `python -m horus_pipeline.doctor`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..console import run_cli, step
from ..fleet.inventory import InventoryError, load_inventory
from ..fleet.status import DEFAULT_TIMEOUT
from ..images import load_image
from .checks import live_report
from .release import release_report


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The pre-deployment checklist of HORUS's production guide, as checks that pass, warn or fail, "
        "each with its evidence and its fix. Without a robot: every node sets failure_policy; no print() in node "
        "processes (use node.log_*); nodes at 100 Hz or more have gc tuned or disabled in an init; the lock is "
        "fresh and fully hashed; the units the deploy role renders restart on failure, after a delay, as a "
        "non-root user; the journald drop-in is installed. With -i: each robot's units are active, its health "
        "endpoint says 200, `horus monitor` shows every node healthy, no shared memory is stale.",
        epilog="Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on bad usage. "
        "Examples: horus doctor demo-amd64; horus doctor demo-amd64 -i dist/sim/inventory.yml --limit demo-amd64-1",
    )
    parser.add_argument("image", metavar="IMAGE", help="image name (images/<name>.toml) or spec file")
    parser.add_argument("-i", "--inventory", type=Path, help="also check robots of this Ansible inventory, live")
    parser.add_argument(
        "--limit",
        metavar="PATTERN",
        help="only these hosts (Ansible's --limit pattern); default: the inventory's hosts whose horus_image is IMAGE",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help="per robot (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document: image, ok, summary, checks")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "nox -s doctor --") -> int:
    args = build_parser(prog).parse_args(argv)

    def body() -> int:
        spec = load_image(args.image)
        with step(f"checking image {spec.name}"):
            report = release_report(spec)
        if args.inventory:
            hosts = load_inventory(args.inventory, args.limit)
            if not args.limit:
                hosts = [h for h in hosts if h.image in (None, spec.name)]
            if not hosts:
                raise InventoryError(f"{args.inventory}: no host has horus_image {spec.name}: pick them with --limit")
            with step(f"checking {len(hosts)} robot(s)"):
                live_report(spec, hosts, args.timeout, report)
        print(json.dumps(report.as_dict(), indent=1) if args.json else report.render())
        return 1 if report.failed else 0

    return run_cli(body)
