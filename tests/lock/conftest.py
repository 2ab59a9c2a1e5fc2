"""Fixtures for lock tests: a fake PEP 503 index, pip isolated from this machine's config, a tmp repo."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from fakeindex import FakeIndex, default_dists
from horus_testing import require

from horus_pipeline.images import ImageSpec, load_image
from horus_pipeline.lock_driver import TESTED


def _tools_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@pytest.fixture
def lock_tools() -> None:
    found = {name: _tools_version(name) for name in TESTED}
    require(found == TESTED, f"the lock tools of lockfiles/tools.txt ({TESTED}) are not installed here: {found}")


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_tools: None) -> FakeIndex:
    """A fake index as pip's only source: no pip.conf, no find-links, caches under tmp_path."""
    index = FakeIndex(tmp_path / "index")
    index.add(*default_dists())
    for var in list(os.environ):
        if var.startswith("PIP_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "horus-cache"))
    return index


MakeImage = Callable[..., ImageSpec]


@pytest.fixture
def make_image(tmp_path: Path) -> MakeImage:
    """Write a repo under tmp_path/repo with one app and an image spec; return the loaded spec."""
    repo = tmp_path / "repo"

    def make(
        name: str = "fake-amd64",
        arch: str = "x86_64",
        deps: dict[str, str] | None = None,
        extras: list[str] | None = None,
        cpu_only: bool = True,
    ) -> ImageSpec:
        app = repo / "apps" / "fake"
        app.mkdir(parents=True, exist_ok=True)
        (app / "main.py").write_text("print('robot')\n")
        dep_lines = "".join(f'{pkg} = {{ version = "{ver}", source = "pypi" }}\n' for pkg, ver in (deps or {}).items())
        (app / "horus.toml").write_text(f'[package]\nname = "fake"\nversion = "0.1.0"\n\n[dependencies]\n{dep_lines}')
        (repo / "images").mkdir(parents=True, exist_ok=True)
        spec = repo / "images" / f"{name}.toml"
        spec.write_text(
            textwrap.dedent(
                f"""\
                [target]
                arch = "{arch}"
                python = "3.11"
                [os]
                suite = "bookworm"
                [app]
                dir = "apps/fake"
                [python]
                cpu_only = {"true" if cpu_only else "false"}
                indexes = []
                extras = {extras or []!r}
                [[services]]
                name = "main"
                script = "main.py"
                """
            ).replace("'", '"')
        )
        return load_image(spec)

    return make
