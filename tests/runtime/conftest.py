"""Fixtures for runtime tests: helper processes (the private namespace, `ns`, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from horus_procs import Py


@pytest.fixture
def py(tmp_path: Path) -> Iterator[Py]:
    helper = Py(tmp_path)
    yield helper
    helper.close()
