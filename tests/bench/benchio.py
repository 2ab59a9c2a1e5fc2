"""What every benchmark's command line shares: its parser's common options, and the JSON it writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def parser(prog: str, doc: str | None, json_default: str, quick: str) -> argparse.ArgumentParser:
    """A parser with --json (where the results go) and --quick (`quick` says what it shortens)."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, default=Path(json_default), help="where to write results")
    p.add_argument("--quick", action="store_true", help=f"{quick} (a smoke run, not for quoting)")
    return p


def write_json(path: Path, results: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
