"""The PEP 751 lock beside each pip-tools lock: written by the same run, in sync, installable offline."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from lock_testing import default_wheels
from pypi_testing import Index, MakeImage

from horus_pipeline.images import all_images, load_image
from horus_pipeline.lock.compile import lock_image
from horus_pipeline.lock.lockfile import read_lock
from horus_pipeline.lock.pylock import PylockError, check_in_sync, check_installable, pylock_path


@pytest.mark.parametrize("image", [spec.name for spec in all_images()])
def test_every_committed_pylock_pins_what_its_lock_pins_and_installs_on_its_robot(image: str) -> None:
    spec = load_image(image)
    lock = read_lock(spec.lockfile)
    check_in_sync(spec, lock)
    chosen = check_installable(spec)
    assert {name: f"sha256:{digest}" for name, digest in chosen.items()} == {
        name: pin.hashes[0] for name, pin in lock.pins.items()
    }
    doc = tomllib.loads(pylock_path(spec).read_text())
    assert doc["lock-version"] == "1.0"
    assert f'platform_machine == "{spec.target.arch.name}"' in doc["environments"][0]
    for package in doc["packages"]:
        for wheel in package["wheels"]:
            assert wheel["url"].startswith("https://") and wheel["size"] > 0 and len(wheel["hashes"]["sha256"]) == 64


def test_a_lock_run_writes_both_locks_from_one_resolution(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0", "fakenum": "1.0"})
    lock = lock_image(spec)
    check_in_sync(spec, lock)
    text = pylock_path(spec).read_text()
    assert "file:" not in text and str(fake_index.root) not in text  # no mirror of this machine
    doc = tomllib.loads(text)
    (torch,) = [p for p in doc["packages"] if p["name"] == "torch"]
    (wheel,) = torch["wheels"]
    files = {w.filename: w for w in default_wheels()}
    assert wheel["size"] == len(files[wheel["name"]].data())
    assert wheel["url"] == f"https://files.pythonhosted.org/packages/cp311/t/torch/{wheel['name']}"
    assert check_installable(spec)["torch"] == lock.pins["torch"].hashes[0].removeprefix("sha256:")


def test_a_pylock_that_disagrees_with_its_lock_fails_naming_the_package(tmp_path: Path) -> None:
    spec = load_image("demo-arm64")
    lock = read_lock(spec.lockfile)
    edited = tmp_path / pylock_path(spec).name
    edited.write_text(pylock_path(spec).read_text().replace('version = "2.4.6"', 'version = "2.4.7"'))
    with pytest.raises(
        PylockError, match=r"disagree on numpy \(2\.4\.7, 1 file\(s\) there, 2\.4\.6, 1 file\(s\) here\)"
    ):
        check_in_sync(spec, lock, edited)


def test_a_pylock_for_another_cpu_does_not_install(tmp_path: Path) -> None:
    arm = load_image("demo-arm64")
    with pytest.raises(PylockError, match="not installable on x86_64"):
        check_installable(load_image("demo-amd64"), pylock_path(arm))


def test_a_file_seen_only_in_a_local_mirror_is_recorded_at_the_images_index(
    fake_index: Index, make_image: MakeImage
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0"})
    spec.path.write_text(spec.path.read_text().replace("indexes = []", 'indexes = ["https://torch.invalid/whl/cpu"]'))
    spec = load_image(spec.path)
    lock_image(spec)  # the index is unreachable (skipped): the file comes from this machine's mirror only
    doc = tomllib.loads(pylock_path(spec).read_text())
    (torch,) = [p for p in doc["packages"] if p["name"] == "torch"]
    assert torch["wheels"][0]["url"] == f"https://torch.invalid/whl/cpu/{torch['wheels'][0]['name']}"
