"""Several images built at once: layers side by side, a pure wheel built once for two arches, the
same bytes as images built one by one, and the seconds of each stage at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bundle_testing import Repo
from pypi_testing import Index

from horus_pipeline.bundle.build import build_bundles, main
from horus_pipeline.bundle.layers import Layer


@pytest.fixture
def arm(repo: Repo, index: Index, tmp_path: Path) -> Repo:
    """An aarch64 image beside `repo`'s x86_64 one, sharing the pure wheel fakenum 1.0; its core wheel
    in repo.wheels too (one --core-wheels directory serves every image)."""
    other = Repo(tmp_path / "arm", index, "aarch64")
    other.lock(fakenum="1.0", armonly="1.0")
    for wheel in other.wheels.glob("*.whl"):
        shutil.copy(wheel, repo.wheels)
    return other


def _archives(layers: list[Layer], name: str) -> list[bytes]:
    return [la.archive.read_bytes() for la in layers if la.name == name]


def test_a_pure_wheel_for_two_arches_is_built_once_into_the_bytes_each_arch_gets_alone(
    repo: Repo, arm: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    x86, arm64 = build_bundles([repo.spec, arm.spec], repo.out, wheels_dir=repo.wheels)
    log = capfd.readouterr().err
    assert log.count("layer fakenum 1.0 (1 KiB wheel): done") == 1, log
    x86_layer = next(la for la in x86.layers if la.name == "fakenum")
    arm_layer = next(la for la in arm64.layers if la.name == "fakenum")
    assert x86_layer.hash != arm_layer.hash  # each target names its own layer, as robots expect
    assert x86_layer.archive_sha256 == arm_layer.archive_sha256
    # Alone, in a cache of its own, the arm64 image gets the very same archive and release.
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "cache-alone"))
    (alone,) = build_bundles([arm.spec], tmp_path / "alone", wheels_dir=repo.wheels)
    assert alone.release == arm64.release
    assert _archives(alone.layers, "fakenum") == _archives(arm64.layers, "fakenum")


def test_images_built_together_publish_what_each_publishes_built_alone(
    repo: Repo, arm: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = build_bundles([repo.spec, arm.spec], tmp_path / "together", wheels_dir=repo.wheels)
    alone = []
    for n, spec in enumerate((repo.spec, arm.spec)):
        monkeypatch.setenv("HORUS_CACHE", str(tmp_path / f"cache-{n}"))
        alone += build_bundles([spec], tmp_path / "alone", wheels_dir=repo.wheels)
    for a, b in zip(together, alone, strict=True):
        assert a.release == b.release
        assert a.manifest.read_bytes() == b.manifest.read_bytes()
        assert [la.archive_sha256 for la in a.layers] == [la.archive_sha256 for la in b.layers]


def test_a_build_ends_with_the_seconds_of_each_stage(repo: Repo, capfd: pytest.CaptureFixture[str]) -> None:
    assert main([str(repo.spec_path), "--out", str(repo.out), "--core-wheels", str(repo.wheels)]) == 0
    err = capfd.readouterr().err
    assert "2 package layer(s) to build" in err
    table = err.split("stage times:")[-1]
    for stage in ("doctor", "check locks", "fetch wheels", "package layers", "manifests", "total"):
        assert stage in table, table
