"""Demo robot tests run on the host, against the packages of the amd64 lock (torch CPU, scipy, numpy)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from horus_testing import require

APP = Path(__file__).resolve().parents[2] / "apps" / "demo"
MISSING = [m for m in ("horus", "torch", "scipy", "numpy") if importlib.util.find_spec(m) is None]


def require_app() -> None:
    require(
        not MISSING,
        f"the demo app needs {', '.join(MISSING)}: pip install ./horus_core -r lockfiles/demo-amd64.txt",
    )
    if str(APP) not in sys.path:
        sys.path.insert(0, str(APP))  # as `horus run` and the units do: the app dir first
