"""Demo robot tests run on the host, against the packages of the amd64 lock (torch CPU, scipy, numpy)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "apps" / "demo"
MISSING = [m for m in ("horus", "torch", "scipy", "numpy") if importlib.util.find_spec(m) is None]


def _load_require() -> Callable[[bool, str], None]:
    # tests/conftest.py's require() (skip locally, fail under CI=true), loaded by path: every
    # conftest here is module "conftest", as tests/ holds no packages.
    spec = importlib.util.spec_from_file_location("_tests_root_conftest", APP.parents[1] / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.require  # type: ignore[no-any-return]


require = _load_require()


def require_app() -> None:
    require(
        not MISSING,
        f"the demo app needs {', '.join(MISSING)}: pip install ./horus_core -r lockfiles/demo-amd64.txt",
    )
    if str(APP) not in sys.path:
        sys.path.insert(0, str(APP))  # as `horus run` and the units do: the app dir first
