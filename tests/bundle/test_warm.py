"""A build with nothing changed does next to nothing: no layer archive read, no core wheel rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bundle_testing import Repo

from horus_pipeline import determinism
from horus_pipeline.bundle import build as bundle_build
from horus_pipeline.bundle.build import build_bundle
from horus_pipeline.core import CORE_SRC, build_all, core_inputs
from horus_pipeline.targets import ARCHES


def test_a_build_with_nothing_changed_reads_no_layer_archive(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    read: list[Path] = []
    real = determinism.sha256_file

    def counting(path: Path) -> str:
        if str(path).endswith(".tar.gz"):
            read.append(path)
        return real(path)

    monkeypatch.setattr(bundle_build, "sha256_file", counting)
    monkeypatch.setattr("tarfile.open", lambda *a, **k: pytest.fail("a warm build opened an archive"))
    again = build_bundle(repo.spec, repo.out, wheels_dir=repo.wheels)
    assert again.release == first.release and again.built == []
    assert read == []


def test_core_inputs_are_horus_core_files_not_caches(tmp_path: Path) -> None:
    src = tmp_path / "horus_core"
    shutil.copytree(CORE_SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    arch = ARCHES["x86_64"]
    before = core_inputs(arch, src)
    (src / "horus" / "__pycache__").mkdir(exist_ok=True)
    (src / "horus" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"bytecode")
    assert core_inputs(arch, src) == before
    header = src / "csrc" / "horus.h"
    header.write_text(header.read_text() + "\n/* changed */\n")
    assert core_inputs(arch, src) != before
    assert core_inputs(ARCHES["aarch64"], src) != core_inputs(arch, src)


@pytest.mark.slow
def test_a_core_wheel_is_rebuilt_only_when_its_inputs_or_its_bytes_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    arch = ARCHES["x86_64"]
    (wheel,) = build_all([arch], tmp_path)
    made = wheel.read_bytes()
    stamp = wheel.stat().st_mtime_ns
    capfd.readouterr()
    assert build_all([arch], tmp_path) == [wheel]
    assert "up to date" in capfd.readouterr().err and wheel.stat().st_mtime_ns == stamp
    wheel.write_bytes(b"edited by hand")
    assert build_all([arch], tmp_path) == [wheel]
    assert "building horus_core for x86_64" in capfd.readouterr().err
    assert wheel.read_bytes() == made
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")  # a day later: other zip times
    build_all([arch], tmp_path)
    assert "building horus_core for x86_64" in capfd.readouterr().err
    assert wheel.read_bytes() != made
