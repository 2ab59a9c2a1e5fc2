"""The bench scripts sit on sys.path while pytest collects this directory: none may hide a module."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent


def _elsewhere(name: str, monkeypatch: pytest.MonkeyPatch) -> str | None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != BENCH])
    saved = sys.modules.pop(name, None)
    try:
        spec = importlib.util.find_spec(name)
    finally:
        if saved is not None:
            sys.modules[name] = saved
    return spec.origin if spec is not None else None


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_no_bench_script_shadows_an_importable_module(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = _elsewhere(script, monkeypatch)
    assert origin is None, f"tests/bench/{script}.py hides {origin} from every test collected after it: rename it"
