"""The `horus` command: run node files the way a systemd unit does, and operate a running robot.

Every command works across all processes of one HORUS_NAMESPACE (default
"default"), reading the shared memory under /dev/shm/horus.<namespace>/.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import runpy
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..messaging import namespace
from ..observability import log

if TYPE_CHECKING:
    from rich.table import Table

LEVELS = {"debug": log.DEBUG, "info": log.INFO, "warning": log.WARNING, "warn": log.WARNING, "error": log.ERROR}


def _fail(message: str) -> int:
    print(f"horus: {message}", file=sys.stderr)
    return 2


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Let Ctrl-C and SIGTERM end a long-running view cleanly (KeyboardInterrupt), whatever this
    process inherited: a shell's background job starts with SIGINT ignored, and a service
    manager or a test stops it with SIGTERM."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 30s, 5m, 2h, 1d")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


# -- horus blackbox -------------------------------------------------------------------


def _box_line(record: dict[str, Any]) -> str:
    event = dict(record["event"])
    kind = event.pop("type")
    when = datetime.fromtimestamp(record["timestamp_us"] / 1e6).isoformat(sep=" ", timespec="milliseconds")
    details = " ".join(f"{key}={value}" for key, value in event.items())
    return f"{when} tick {record.get('tick')} {record.get('scheduler')} {kind} {details}"


def cmd_blackbox(args: argparse.Namespace) -> int:
    from ..observability import blackbox

    where = args.dir or blackbox.directory()
    if args.clear:
        for path in where.glob("*.wal*"):
            path.unlink()
        return 0
    if not where.is_dir():
        return _fail(f"blackbox: no black box in {where} (run the scheduler with blackbox_mb=N, or give --dir)")
    records = [r for r in blackbox.read(where) if not args.anomalies or blackbox.is_anomaly(r)]
    if args.node:
        records = [r for r in records if args.node.lower() in str(r["event"].get("name", "")).lower()]
    for record in records[-args.lines :] if args.lines else records:
        print(json.dumps(record) if args.json else _box_line(record))
    return 0


# -- horus run -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        return _fail(f"run: {path} does not exist (give the node file, e.g. nodes/camera.py)")
    # As a unit runs it: the script's directory first on sys.path, line-buffered output.
    sys.path.insert(0, str(path.resolve().parent))
    sys.argv = [str(path), *args.args]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    runpy.run_path(str(path), run_name="__main__")
    return 0


# -- horus logs ------------------------------------------------------------------------


def _format(rec: object, as_json: bool) -> str:
    from ..observability.logring import Record

    assert isinstance(rec, Record)
    if as_json:
        d = rec.as_dict()
        d["level"] = log.LEVEL_NAMES.get(rec.level, str(rec.level))
        d["time"] = datetime.fromtimestamp(rec.time_ns / 1e9).isoformat(timespec="milliseconds")
        return json.dumps(d, sort_keys=True)
    stamp = datetime.fromtimestamp(rec.time_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    level = log.LEVEL_NAMES.get(rec.level, str(rec.level))
    cut = " [truncated]" if rec.truncated else ""
    return f"{stamp} {level:<7} {rec.node}[{rec.pid}] tick {rec.tick}: {rec.message}{cut}"


def cmd_logs(args: argparse.Namespace) -> int:
    from ..errors import HorusError
    from ..observability.logring import Reader, ring_path

    try:
        reader = Reader(last=None if args.since else args.lines)
    except HorusError as exc:  # a ring rewritten or truncated by another process, or of another version
        return _fail(str(exc))
    except FileNotFoundError:
        if not args.follow:
            print(f"no logs yet in namespace {namespace.current()!r} ({ring_path()} does not exist)", file=sys.stderr)
            return 0
        while not Path(ring_path()).exists():
            time.sleep(0.2)
        reader = Reader()  # a ring that appeared after we started holds only new records
    min_level = LEVELS[args.level]
    since_ns = time.time_ns() - int(args.since * 1e9) if args.since else 0
    try:
        with _stopped_by_signals():
            while True:
                for rec in reader.poll():
                    if rec.level < min_level or (args.node and rec.node != args.node) or rec.time_ns < since_ns:
                        continue
                    print(_format(rec, args.json), flush=True)
                if not args.follow:
                    return 0
                time.sleep(0.05)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


# -- horus monitor ---------------------------------------------------------------------

COLUMNS = ("node", "pid", "state", "health", "rate", "ticks", "errors", "misses", "last ms", "avg ms", "max ms")


def _row(n: dict[str, Any]) -> list[str]:
    return [
        str(n["node"]), str(n["pid"]), str(n["state"]), str(n["health"]),
        f"{n['actual_rate_hz']:.1f}/{n['rate_hz']:g}", str(n["total_ticks"]), str(n["errors_count"]),
        str(n["deadline_misses"]), f"{n['last_tick_ms']:.3f}", f"{n['avg_tick_ms']:.3f}", f"{n['max_tick_ms']:.3f}",
    ]  # fmt: skip


def _table(nodes: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=f"HORUS namespace {namespace.current()!r}: {len(nodes)} nodes", expand=False)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("node", "state", "health") else "right")
    colors = {"healthy": "green", "warning": "yellow", "unhealthy": "red", "failed": "bold red"}
    for n in nodes:
        cells = _row(n)
        color = colors.get(str(n["health"]))
        cells[3] = f"[{color}]{cells[3]}[/]" if color else cells[3]
        table.add_row(*cells)
    return table


def cmd_monitor(args: argparse.Namespace) -> int:
    from ..observability.registry import snapshot

    if args.json:
        print(json.dumps(snapshot(), indent=2, sort_keys=True))
        return 0
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:  # a robot's release need not ship rich: the same table, in plain text
        return _plain_monitor(args, snapshot)
    # Piped into a file or another program, rich would wrap at 80 columns; a snapshot should not.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    if args.once:
        console.print(_table(snapshot()))
        return 0
    try:
        with _stopped_by_signals(), Live(_table(snapshot()), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(args.interval)
                live.update(_table(snapshot()))
    except KeyboardInterrupt:
        return 0


def _plain_table(nodes: list[dict[str, Any]]) -> str:
    rows = [list(COLUMNS), *(_row(n) for n in nodes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    left = {0, 2, 3}  # node, state, health
    lines = [
        "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    title = f"HORUS namespace {namespace.current()!r}: {len(nodes)} nodes"
    return "\n".join([title, *(line.rstrip() for line in lines)])


def _plain_monitor(args: argparse.Namespace, snapshot: Any) -> int:
    """The monitor without rich: one table (--once or not a terminal), or the table redrawn in place."""
    if args.once or not sys.stdout.isatty():
        print(_plain_table(snapshot()), flush=True)
        if args.once:
            return 0
    try:
        with _stopped_by_signals():
            while True:
                time.sleep(args.interval)
                # On a terminal: home the cursor and clear, then redraw; elsewhere one table per interval.
                prefix = "\x1b[H\x1b[2J" if sys.stdout.isatty() else "\n"
                print(prefix + _plain_table(snapshot()), flush=True)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


# -- horus clean -----------------------------------------------------------------------


def cmd_clean(args: argparse.Namespace) -> int:
    from .clean import clean_namespaces

    if not args.shm:
        return _fail("clean: say what to clean: --shm removes shared memory no live process holds")
    report = clean_namespaces(all_namespaces=args.all_namespaces, force=args.force, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in report.removed:
        print(f"{verb} {item.path} ({item.human_size}{', IN USE' if item.in_use else ''})")
    for item in report.kept:
        print(f"kept {item.path} ({item.human_size}): in use by a live process (--force removes it)")
    for path, why in report.errors:
        print(f"could not check {path}: {why}", file=sys.stderr)
    freed = "would free" if args.dry_run else "freed"
    print(f"{verb} {len(report.removed)} segments, {freed} {report.human_freed}; kept {len(report.kept)} in use")
    return 1 if report.errors else 0


# -- horus updates ---------------------------------------------------------------------


def cmd_updates(args: argparse.Namespace) -> int:
    from ..runtime import updates

    if args.action == "hold":
        if args.duration is None:
            return _fail("updates hold: say for how long: --for 30m (an operator's hold ends by itself)")
        path = updates.hold_for(args.reason, args.duration)
        print(f"deploys wait at their switch for {args.duration:g}s: {args.reason} ({path.name})")
        return 0
    if args.action == "release":
        print(f"ended {updates.release_operator_holds()} operator hold(s); nodes' holds end with their `with`")
        return 0
    holds = updates.live_holds()
    if args.json:
        print(updates.as_json(holds))
        return 0
    if not holds:
        print(f"no update holds in namespace {namespace.current()}: a deploy switches at once")
    for h in holds:
        since = datetime.fromtimestamp(h.since).isoformat(sep=" ", timespec="seconds")
        until = f", until {datetime.fromtimestamp(h.until).isoformat(sep=' ', timespec='seconds')}" if h.until else ""
        print(f"{h.holder} (pid {h.pid}): {h.reason} (since {since}{until})")
    return 0


# -- horus build -----------------------------------------------------------------------


def cmd_build(args: argparse.Namespace) -> int:
    from .project import ManifestError, load_project, write_pyproject

    manifest = Path(args.path)
    if manifest.is_dir():
        manifest = manifest / "horus.toml"
    try:
        project = load_project(manifest)
        out = write_pyproject(project)
    except (ManifestError, FileNotFoundError) as exc:
        return _fail(f"build: {exc}")
    print(f"wrote {out} from {manifest}: pip install -e {out.parent}")
    return 0


def cmd_sbom(args: argparse.Namespace) -> int:
    from . import sbom

    doc = sbom.load(args.file or sbom.release_sbom())
    print(sbom.components_table(doc) if args.components else json.dumps(doc, indent=1))
    return 0


# -- horus doctor, horus fleet ----------------------------------------------------------

# Commands for the operator's machine, where the repository's pipeline (horus_pipeline) is
# installed; a robot's release has only the runtime, so there they say where to run them.
PIPELINE_COMMANDS = {
    "doctor": "check an image (and its robots) against the pre-deployment checklist",
    "fleet": "status of every robot of an Ansible inventory in one table",
}


def cmd_pipeline(command: str, argv: list[str]) -> int:
    try:
        cli = importlib.import_module(f"horus_pipeline.{command}.cli")
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        return _fail(
            f"{command} runs on an operator's machine with the HORUS pipeline installed "
            f"(module {missing} is missing here): in the repository, `nox -s {command} -- ...`, "
            f"or `pip install -r lockfiles/tools.txt && pip install -e .` and then `horus {command} ...`"
        )
    return int(cli.main(argv, prog=f"horus {command}"))


# -- the parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="horus",
        description="HORUS robot runtime: run nodes and inspect a running robot. "
        "Commands act on the processes of $HORUS_NAMESPACE (default: default).",
    )
    parser.add_argument("--version", action="version", version=f"horus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a node file as its systemd unit would",
        description="Run FILE.py with line-buffered output and its directory on sys.path.",
    )
    run.add_argument("file", metavar="FILE.py")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the file")
    run.set_defaults(func=cmd_run)

    for name in ("logs", "log"):
        logs = sub.add_parser(
            name,
            help="show node log records from every process" if name == "logs" else None,
            description="Show the structured log records (node.log_*) of every process of the namespace, oldest first.",
        )
        logs.add_argument("-f", "--follow", action="store_true", help="keep printing new records until Ctrl-C")
        logs.add_argument("--node", help="only this node's records")
        logs.add_argument("--level", choices=sorted(LEVELS), default="debug", help="minimum level (default: all)")
        logs.add_argument("-n", "--lines", type=int, default=100, metavar="N", help="start with the last N records")
        logs.add_argument("--since", type=_duration, metavar="AGE", help="only records newer than AGE (30s, 5m, 2h)")
        logs.add_argument("--json", action="store_true", help="one JSON object per record")
        logs.set_defaults(func=cmd_logs)

    box = sub.add_parser(
        "blackbox",
        help="show the black box: scheduler events and anomalies, also of crashed processes",
        description="Show the events schedulers run with blackbox_mb=N wrote to $HORUS_BLACKBOX_DIR "
        "(default .horus/blackbox), oldest first: starts, stops, node errors, deadline misses, "
        "budget violations, emergency stops.",
    )
    box.add_argument("-a", "--anomalies", action="store_true", help="only errors, misses, violations and stops")
    box.add_argument("--node", help="only events of nodes whose name contains NODE")
    box.add_argument("-n", "--lines", type=int, default=0, metavar="N", help="only the last N events")
    box.add_argument("--json", action="store_true", help="one JSON object per event")
    box.add_argument("--dir", type=Path, help="read this directory instead")
    box.add_argument("--clear", action="store_true", help="delete the black box's files")
    box.set_defaults(func=cmd_blackbox)

    mon = sub.add_parser(
        "monitor",
        help="live dashboard of every node in every process",
        description="Per-node state, health, rate, ticks, errors, deadline misses and tick times.",
    )
    mon.add_argument("--once", action="store_true", help="print one snapshot and exit")
    mon.add_argument("--json", action="store_true", help="print one snapshot as JSON and exit (for scripts)")
    mon.add_argument("--interval", type=float, default=0.5, help="refresh interval in seconds")
    mon.set_defaults(func=cmd_monitor)

    clean = sub.add_parser(
        "clean",
        help="remove shared memory no live process holds",
        description="Remove topics, stats and logs of processes that are gone (a segment is "
        "live while any process holds its lock). Run before a first deploy.",
    )
    clean.add_argument("--shm", action="store_true", help="clean HORUS shared memory under /dev/shm")
    clean.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    clean.add_argument(
        "--force", action="store_true", help="also remove segments live processes hold (stop them first)"
    )
    clean.add_argument("--all-namespaces", action="store_true", help="every namespace, not only $HORUS_NAMESPACE")
    clean.set_defaults(func=cmd_clean)

    upd = sub.add_parser(
        "updates",
        help="list, add or end update holds (a deploy waits at its switch while one is held)",
        description="A node holds updates while it is busy (`with horus.UpdateHold('docking'):`); a deploy "
        "still transfers, verifies and assembles the release, then waits before restarting anything, up to "
        "the inventory's horus_robot_hold_timeout. Without an action: list the live holds.",
    )
    upd.add_argument("action", nargs="?", choices=["hold", "release"], help="hold: add an operator's hold; "
                     "release: end the operators' holds")  # fmt: skip
    upd.add_argument("--reason", default="held by an operator", help="what the robot is doing (shown to deploys)")
    upd.add_argument("--for", dest="duration", type=_duration, metavar="DURATION", help="how long: 30m, 2h, 1d")
    upd.add_argument("--json", action="store_true", help="the live holds as JSON (what a deploy reads)")
    upd.set_defaults(func=cmd_updates)

    build = sub.add_parser(
        "build",
        help="write .horus/pyproject.toml from horus.toml",
        description="Render the project's horus.toml [dependencies] into a PEP 621 "
        ".horus/pyproject.toml, as HORUS does: pip install -e .horus/",
    )
    build.add_argument("path", nargs="?", default=".", help="project directory or horus.toml (default: .)")
    build.set_defaults(func=cmd_build)

    bom = sub.add_parser(
        "sbom",
        help="print the software bill of materials of the running release",
        description="Print the CycloneDX SBOM the build made for this release (every package with its version, "
        "wheel sha256 and license; the app; the target). On a robot: `horus sbom --components` for a table.",
    )
    bom.add_argument("--components", action="store_true", help="a table of the packages instead of the JSON")
    bom.add_argument("--file", type=Path, metavar="PATH", help="read this SBOM instead of the release's")
    bom.set_defaults(func=cmd_sbom)

    for name, help_text in PIPELINE_COMMANDS.items():
        # Parsed by the pipeline's own parser (main() hands it the rest of the line): `horus NAME --help`.
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PIPELINE_COMMANDS:
        return cmd_pipeline(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # e.g. an invalid HORUS_NAMESPACE
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
