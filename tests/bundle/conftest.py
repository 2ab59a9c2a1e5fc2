"""Fixtures for bundle tests (wheels and Repo in bundle_testing.py): `index` (pip's only source) and `repo`."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_testing import Repo, default_wheels
from pypi_testing import Index, isolate_pip


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    """The tiny-wheel index as pip's only source; the pipeline's cache under tmp_path."""
    idx = Index(tmp_path / "index")
    idx.add(*default_wheels())
    isolate_pip(monkeypatch, idx, tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return idx


@pytest.fixture
def repo(tmp_path: Path, index: Index) -> Repo:
    r = Repo(tmp_path / "repo", index)
    r.lock(fakenum="1.0", fakeext="2.0")
    return r
