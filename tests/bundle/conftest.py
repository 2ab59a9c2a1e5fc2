"""Fixtures for bundle tests (helpers in bundle_testing.py): `index` (pip's only source) and `repo`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bundle_testing import Index, Repo, default_wheels


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    """The tiny-wheel index as pip's only source; the pipeline's cache under tmp_path."""
    idx = Index(tmp_path / "index")
    idx.add(*default_wheels())
    for var in list(os.environ):
        if var.startswith("PIP_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", idx.url)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "horus-cache"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return idx


@pytest.fixture
def repo(tmp_path: Path, index: Index) -> Repo:
    r = Repo(tmp_path / "repo", index)
    r.lock(fakenum="1.0", fakeext="2.0")
    return r
