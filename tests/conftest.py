"""Test-wide configuration and fixtures. Helpers importable from any test live in horus_testing.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from horus_testing import IN_CI, require

__all__ = ["IN_CI", "require"]


@pytest.fixture
def ns(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh HORUS_NAMESPACE for this test (and its child processes), removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("HORUS_NAMESPACE", name)
    yield name
    shutil.rmtree(f"/dev/shm/horus.{name}", ignore_errors=True)
