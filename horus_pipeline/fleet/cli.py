"""The `horus fleet` command line (also `nox -s fleet --` and `python -m horus_pipeline.fleet`)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from .. import REPO
from ..console import run_cli, step
from .inventory import Host, load_inventory
from .prometheus import wanted_release, write_targets
from .status import DEFAULT_TIMEOUT, RobotStatus, query
from .table import render

BUNDLES = REPO / "dist" / "bundles"


def build_parser(prog: str = "horus fleet") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="What runs where and whether it is healthy: every robot of an Ansible inventory, asked in "
        "parallel over SSH (one round-trip each, as ansible-playbook would connect), in one table: image, current "
        "and previous release, pending/confirmed state, units, health endpoint, node errors and deadline misses "
        "(horus monitor), restarts since the deploy, disk free, when it was deployed. A robot that does not "
        "answer within --timeout is listed as such. With --prometheus-targets it asks no robot and writes the "
        "targets a Prometheus server scrapes instead.",
        epilog="Exit status: 0 when every robot answered and is healthy (with --prometheus-targets: once FILE is "
        "written), 1 otherwise (2 on bad usage). Examples: horus fleet status -i dist/sim/inventory.yml --limit "
        "'demo-amd64-*' --json; nox -s fleet -- -i inventory.yml --prometheus-targets "
        "/etc/prometheus/horus-targets.json (robots serve /metrics on their loopback only for now: README, "
        "Monitoring).",
    )
    parser.add_argument("command", nargs="?", choices=["status"], default="status", help="what to show (status)")
    parser.add_argument("-i", "--inventory", type=Path, required=True, help="the Ansible inventory of the robots")
    parser.add_argument("--limit", metavar="PATTERN", help="only these hosts (Ansible's --limit pattern)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"per robot, connection included (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document: a list with an object per robot")
    parser.add_argument(
        "--behind",
        action="store_true",
        help="only the robots not on their image's newest release (BUNDLES/<image>/latest, or --release): what "
        "the next `ansible-playbook ansible/deploy.yml` moves forward, the rest being no-ops. Robots that do not "
        "answer are listed too. Exit status 1 when any robot is behind",
    )
    parser.add_argument(
        "--prometheus-targets",
        type=Path,
        metavar="FILE",
        help="ask no robot: write FILE (JSON), the Prometheus file_sd targets of every robot of the inventory "
        "(--limit narrows them): address ansible_host:PORT, PORT the health/metrics port of the image's release "
        "(images/<image>.toml [health]), labels robot, image, app and release (the release a deploy gives it: "
        "--release, else BUNDLES/<image>/latest). Point a scrape job's file_sd_configs at FILE (see "
        "monitoring/prometheus/prometheus.yml); Prometheus re-reads it when it changes, so write it again "
        "after each build or inventory change. Written atomically",
    )
    parser.add_argument(
        "--release",
        metavar="ID",
        help="with --behind or --prometheus-targets: this release instead of each image's newest",
    )
    parser.add_argument(
        "--bundles",
        type=Path,
        default=BUNDLES,
        metavar="DIR",
        help=f"with --behind or --prometheus-targets: the bundles (default {BUNDLES})",
    )
    return parser


def behind(robots: Sequence[RobotStatus], hosts: Sequence[Host], release: str | None, bundles: Path) -> list[str]:
    """The robots not on the release a deploy would give them, each with why ("on X, wants Y")."""
    found = []
    for robot, host in zip(robots, hosts, strict=True):
        latest = bundles / str(host.image) / "latest"
        want = wanted_release(bundles, str(host.image), release)
        if robot.error is not None:
            found.append(f"{robot.host}: no answer ({robot.error}); wants {want or '?'}")
            continue
        for current in [app.current for app in robot.apps] or [None]:
            if want is None or current != want:
                found.append(f"{robot.host}: on {current or 'nothing'}, wants {want or f'? (no {latest})'}")
    return found


def main(argv: Sequence[str] | None = None, prog: str = "nox -s fleet --") -> int:
    args = build_parser(prog).parse_args(argv)

    def body() -> int:
        hosts = load_inventory(args.inventory, args.limit)
        if args.prometheus_targets:
            print(write_targets(args.prometheus_targets, args.inventory, hosts, args.bundles, args.release))
            return 0
        with step(f"asking {len(hosts)} robot(s)"):
            robots = query(hosts, timeout=args.timeout)
        if args.behind:
            late = behind(robots, hosts, args.release, args.bundles)
            print("\n".join(late) if late else f"all {len(robots)} robot(s) are on the release a deploy gives them")
            return 1 if late else 0
        if args.json:
            print(json.dumps([r.as_dict() for r in robots], indent=1, sort_keys=True))
        else:
            print(render(robots, time.time()))
        return 0 if all(r.healthy for r in robots) else 1

    return run_cli(body)
