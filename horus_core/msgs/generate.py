"""Generate HORUS's standard messages from messages.toml: one definition, two languages.

    python horus_core/msgs/generate.py            write horus/messaging/messages.py and csrc/horus_msgs.h
    python horus_core/msgs/generate.py --check    exit 1 if either is not what the schema gives

The layout rules, type ids and layout hashes are horus/messaging/msglayout.py's (also behind horus.msggen).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "messages.toml"
PYTHON_OUT = HERE.parent / "horus" / "messaging" / "messages.py"
C_OUT = HERE.parent / "csrc" / "horus_msgs.h"


def msglayout() -> ModuleType:
    """horus/messaging/msglayout.py, loaded by path: importing the horus package needs the compiled core."""
    spec = importlib.util.spec_from_file_location(
        "horus_msglayout", HERE.parent / "horus" / "messaging" / "msglayout.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def outputs() -> dict[Path, str]:
    layout = msglayout()
    messages = layout.load(SCHEMA)
    return {PYTHON_OUT: layout.render_python(messages), C_OUT: layout.render_c(messages)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="generate.py",
        description="Generate horus/messaging/messages.py and csrc/horus_msgs.h from messages.toml (one definition).",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        files = outputs()
    except ValueError as exc:  # msglayout.SchemaError, or TOML that does not parse
        print(f"error: {SCHEMA}: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run python {Path(__file__).relative_to(HERE.parent.parent)}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
