"""The build refuses a stale lock and says which command re-locks; horus.lock follows the locks."""

from __future__ import annotations

import tomllib

import pytest
from pypi_testing import Index, MakeImage

from horus_pipeline.lock.compile import StaleLockError, check_lock_fresh, lock_image
from horus_pipeline.lock.horus_lock import write_horus_lock


def test_fresh_lock_passes_and_stale_lock_is_refused(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": "1.0"})
    with pytest.raises(StaleLockError, match=r"does not exist: lock image fake-arm64 with: nox -s lock -- fake-arm64"):
        check_lock_fresh(spec)
    lock_image(spec)
    assert check_lock_fresh(spec).versions() == {"fakenum": "1.0"}

    # A dependency added to horus.toml: the lock no longer says what the robot needs.
    manifest = spec.app / "horus.toml"
    manifest.write_text(manifest.read_text() + 'torch = { version = "9.0.0", source = "pypi" }\n')
    with pytest.raises(StaleLockError) as err:
        check_lock_fresh(spec)
    assert "fake-arm64.txt is stale" in str(err.value)
    assert "Re-lock with: nox -s lock -- fake-arm64" in str(err.value)


def test_comment_edits_do_not_make_a_lock_stale(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": "1.0"})
    lock_image(spec)
    manifest = spec.app / "horus.toml"
    manifest.write_text("# the demo robot\n" + manifest.read_text())
    check_lock_fresh(spec)


def test_image_extras_are_lock_inputs(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-amd64", deps={"torch": ">=9"}, extras=["torch==9.0.0+cpu"])
    lock_image(spec)
    changed = make_image("fake-amd64", deps={"torch": ">=9"}, extras=["torch==9.0.0"])
    with pytest.raises(StaleLockError, match="nox -s lock -- fake-amd64"):
        check_lock_fresh(changed)


def test_horus_lock_v3_lists_every_locked_file(fake_index: Index, make_image: MakeImage) -> None:
    arm = make_image("fake-arm64", arch="aarch64", deps={"torch": ">=9", "fakenum": "1.0"})
    amd = make_image("fake-amd64", deps={"torch": ">=9", "fakenum": "1.0"}, extras=["torch==9.0.0+cpu"])
    arm_lock, amd_lock = lock_image(arm), lock_image(amd)
    path = write_horus_lock(arm.app, [arm, amd])
    assert path == arm.app / "horus.lock"
    data = tomllib.loads(path.read_text())
    assert data["version"] == 3
    assert data["config_hash"].startswith("sha256:")
    packages = {(p["name"], p["version"], p["checksum"]): p for p in data["package"]}
    fakenum = packages["fakenum", "1.0", arm_lock.pins["fakenum"].hashes[0]]
    assert fakenum["source"] == "pypi" and fakenum["images"] == ["fake-amd64", "fake-arm64"]
    assert packages["torch", "9.0.0", arm_lock.pins["torch"].hashes[0]]["images"] == ["fake-arm64"]
    assert packages["torch", "9.0.0+cpu", amd_lock.pins["torch"].hashes[0]]["images"] == ["fake-amd64"]
    # Same locks, same bytes: nothing in it depends on when or where it was made.
    first = path.read_bytes()
    assert write_horus_lock(arm.app, [amd, arm]).read_bytes() == first
