"""Fixtures for lock tests (wheels in lock_testing.py, index and repo in pypi_testing.py): fake_index, make_image."""

from __future__ import annotations

from pathlib import Path

import pytest
from lock_testing import default_wheels
from pypi_testing import Index, MakeImage, isolate_pip, require_lock_tools, write_repo

from horus_pipeline.images import load_image


@pytest.fixture
def lock_tools() -> None:
    require_lock_tools()


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_tools: None) -> Index:
    """The torch-like wheels as pip's only source: no pip.conf, no find-links, caches under tmp_path."""
    index = Index(tmp_path / "index")
    index.add(*default_wheels())
    isolate_pip(monkeypatch, index, tmp_path)
    return index


@pytest.fixture
def make_image(tmp_path: Path) -> MakeImage:
    """Write a repo under tmp_path/repo with one app and an image spec (write_repo); return the loaded spec."""
    return lambda *args, **kwargs: load_image(write_repo(tmp_path / "repo", *args, **kwargs))
