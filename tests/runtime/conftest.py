"""Fixtures for runtime tests: a private HORUS namespace per test, and helper processes."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from horus_procs import Py


@pytest.fixture
def ns(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh HORUS_NAMESPACE for this test (and its child processes), removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("HORUS_NAMESPACE", name)
    yield name
    shutil.rmtree(f"/dev/shm/horus.{name}", ignore_errors=True)


@pytest.fixture
def py(tmp_path: Path) -> Iterator[Py]:
    helper = Py(tmp_path)
    yield helper
    helper.close()
