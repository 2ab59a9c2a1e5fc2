"""The C node API this wheel ships (horus/c/: horus_node.h, horus_msgs.h, node.c and the core's
sources), for compiled nodes on the same topics, registry and logs as Python nodes:

    zig cc -std=c11 -O2 $(python -m horus.capi --cflags) motor.c $(python -m horus.capi --sources) -o motor

Cross-compiling for a robot is the same with `-target aarch64-linux-gnu.2.17` (what the core's
wheels are built for).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DIR = Path(__file__).with_name("c")
# node.c and the parts of the core it uses (module.c and pycodec.c, the Python extension, are not shipped).
SOURCES = ("node.c", "segment.c", "topic.c", "timing.c", "stats.c", "logring.c", "journal.c")


def cflags() -> list[str]:
    """Compiler arguments that find horus_node.h and horus_msgs.h."""
    return ["-I", str(DIR)]


def sources() -> list[str]:
    """The C files to compile with a node."""
    return [str(DIR / name) for name in SOURCES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m horus.capi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cflags", action="store_true", help="print the include arguments")
    parser.add_argument("--sources", action="store_true", help="print the C sources to compile with a node")
    args = parser.parse_args(argv)
    if not (args.cflags or args.sources):
        parser.print_help()
        return 2
    print(" ".join([*(cflags() if args.cflags else []), *(sources() if args.sources else [])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
