"""The `horus` command: run node files the way a systemd unit does, and operate a running robot."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from . import __version__


def _cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"horus run: {path} does not exist (give the node file, e.g. nodes/camera.py)", file=sys.stderr)
        return 2
    # As a unit runs it: the script's directory first on sys.path, unbuffered output.
    sys.path.insert(0, str(path.resolve().parent))
    sys.argv = [str(path), *args.args]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    runpy.run_path(str(path), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="horus",
        description="HORUS robot runtime: run nodes and inspect a running robot.",
    )
    parser.add_argument("--version", action="version", version=f"horus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run a node file as its systemd unit would",
        description="Run FILE.py with unbuffered output, its directory on sys.path, in $HORUS_NAMESPACE.",
    )
    run.add_argument("file", metavar="FILE.py")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the file")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
