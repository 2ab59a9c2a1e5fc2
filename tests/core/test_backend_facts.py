"""The horus_core build backend keeps two facts of the pipeline's (it cannot import it): they agree."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from horus_testing import load_module

from horus_pipeline import REPO, cache
from horus_pipeline.targets import CORE_ABI_TAG


def backend() -> ModuleType:
    return load_module("horus_build", REPO / "horus_core/build_backend/horus_build.py")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"XDG_CACHE_HOME": "/srv/xdg"},
        {"HORUS_CACHE": "/srv/horus"},
        {"HORUS_CACHE": "/srv/horus", "XDG_CACHE_HOME": "/srv/xdg"},
        {"XDG_CACHE_HOME": ""},
    ],
)
def test_zig_objects_are_cached_where_the_pipeline_caches(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("HORUS_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    zig_cache = backend()._zig_env(str(tmp_path / "build"))["ZIG_GLOBAL_CACHE_DIR"]
    assert Path(zig_cache) == cache.cache_root() / "zig"


def test_core_wheels_carry_the_abi_tag_of_the_target_table() -> None:
    assert backend().ABI_TAG == CORE_ABI_TAG
