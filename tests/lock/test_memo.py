"""A re-lock with nothing changed keeps the last resolution without running pip-compile; any change re-resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypi_testing import Index, MakeImage, Wheel

from horus_pipeline.lock.compile import lock_image

KEPT = "its resolution kept (pip-compile not run)"


def test_a_relock_with_nothing_changed_keeps_the_lock_without_pip_compile(
    fake_index: Index, make_image: MakeImage, capfd: pytest.CaptureFixture[str]
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0", "fakenum": "1.0"})
    lock_image(spec)  # from nothing
    lock_image(spec)  # from that lock: the everyday re-lock, recorded
    first = spec.lockfile.read_bytes(), spec.lockfile.with_name("pylock.fake-arm64.toml").read_bytes()
    assert KEPT not in capfd.readouterr().err
    lock_image(spec)
    assert KEPT in capfd.readouterr().err
    assert (spec.lockfile.read_bytes(), spec.lockfile.with_name("pylock.fake-arm64.toml").read_bytes()) == first


def test_a_new_release_on_the_index_is_resolved_not_kept(
    fake_index: Index, make_image: MakeImage, capfd: pytest.CaptureFixture[str]
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.0"}
    fake_index.add(Wheel("fakenum", "1.1", "py3-none-any"))
    capfd.readouterr()
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.1"}
    assert KEPT not in capfd.readouterr().err


def test_an_index_added_in_pip_conf_is_resolved_not_kept(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.0"}
    mirror = Index(tmp_path / "mirror")
    mirror.add(Wheel("fakenum", "1.1", "py3-none-any"))
    # Same variables, same job, the same pages where it looked before: only pip.conf's bytes differ.
    config.write_text(f"[global]\nextra-index-url = {mirror.url}\n")
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.1"}


def test_an_index_added_in_pips_environment_is_resolved_not_kept(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.0"}
    mirror = Index(tmp_path / "mirror")
    mirror.add(Wheel("fakenum", "1.1", "py3-none-any"))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", mirror.url)
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.1"}


def test_a_project_appearing_on_a_local_index_is_resolved_not_kept(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = Index(tmp_path / "mirror")
    mirror.add(Wheel("otherpkg", "1.0", "py3-none-any"))  # no fakenum page: pip reads none there
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", mirror.url)
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.0"}
    mirror.add(Wheel("fakenum", "1.1", "py3-none-any"))
    assert lock_image(spec, upgrade=True).versions() == {"fakenum": "1.1"}
