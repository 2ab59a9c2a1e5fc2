"""Locks resolve for the image's target, not the machine: real pip-compile against a fake local index."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lock_testing import ARM, CUDA_DEPS, X86, default_wheels
from pypi_testing import Index, MakeImage, Wheel, isolate_pip

from horus_pipeline.lock.compile import LockError, lock_image, lock_images
from horus_pipeline.lock.lockfile import read_lock

TORCH_X86 = Wheel("torch", "9.0.0", X86, CUDA_DEPS)
TORCH_ARM = Wheel("torch", "9.0.0", ARM, CUDA_DEPS)
TORCH_CPU = Wheel("torch", "9.0.0+cpu", X86)


def test_aarch64_lock_made_on_x86_64_has_no_cuda_packages(fake_index: Index, make_image: MakeImage) -> None:
    # The CUDA deps sit behind platform_machine == "x86_64": false on the robot, true on this host.
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0"})
    lock = lock_image(spec)
    assert lock.versions() == {"torch": "9.0.0"}
    # ...and the hash is the aarch64 wheel's: the target's tags chose the file.
    assert lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_ARM),)


def test_x86_64_lock_of_a_cuda_build_pins_its_cuda_chain(fake_index: Index, make_image: MakeImage) -> None:
    # Only PyPI-like files: with the +cpu build visible too, pip would prefer it (9.0.0+cpu > 9.0.0).
    fake_index.remove(TORCH_CPU)
    spec = make_image("fake-amd64", deps={"torch": "9.0.0"}, cpu_only=False)
    lock = lock_image(spec)
    assert set(lock.versions()) == {"torch", "nvidia-cublas-cu12", "triton", "nvidia-cuda-runtime-cu12"}
    assert lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_X86),)


def test_cpu_only_image_refuses_cuda_and_names_the_chain(fake_index: Index, make_image: MakeImage) -> None:
    fake_index.remove(TORCH_CPU)
    spec = make_image("fake-amd64", deps={"torch": "9.0.0"}, cpu_only=True)
    spec.lockfile.parent.mkdir(parents=True)
    spec.lockfile.write_text("# the committed lock\n")
    with pytest.raises(LockError) as err:
        lock_image(spec)
    message = str(err.value)
    assert "CPU-only" in message and "fake-amd64" in message
    assert "fake -> torch==9.0.0 -> triton==1.0 -> nvidia-cuda-runtime-cu12==1.0" in message
    assert "fake -> torch==9.0.0 -> nvidia-cublas-cu12==1.0" in message
    assert "[python] extras" in message  # the fix
    assert spec.lockfile.read_text() == "# the committed lock\n"  # untouched


def test_cpu_only_image_locks_the_cpu_build(fake_index: Index, make_image: MakeImage) -> None:
    # horus.toml asks for any torch 9; the image's extras pin the CPU build (per-image override).
    spec = make_image("fake-amd64", deps={"torch": ">=9", "fakenum": "1.0"}, extras=["torch==9.0.0+cpu"])
    lock = lock_image(spec)
    assert lock.versions() == {"fakenum": "1.0", "torch": "9.0.0+cpu"}
    assert lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_CPU),)
    assert lock.pins["torch"].via == ("fake (.horus/pyproject.toml)",)


def test_lock_records_no_index_url_or_local_path(fake_index: Index, make_image: MakeImage, tmp_path) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0", "fakenum": "1.0"})
    lock_image(spec)
    text = spec.lockfile.read_text()
    for needle in (
        "file://",
        "/opt/",
        str(tmp_path),
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "-f ",
    ):
        assert needle not in text
    assert text.startswith(
        "# horus-lock: image = fake-arm64\n# horus-lock: target = aarch64, CPython 3.11, glibc 2.36\n"
    )
    assert "#    nox -s lock -- fake-arm64\n" in text  # the command that re-makes it


def test_hashes_come_from_the_index_not_from_downloads(fake_index: Index, make_image: MakeImage) -> None:
    # Remove the wheel itself: only its link (#sha256=) and PEP 658 metadata remain. pip-tools
    # unpatched downloads every file to hash it (and would fail here).
    (fake_index.files / TORCH_ARM.filename).unlink()
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0"})
    lock = lock_image(spec)
    assert lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_ARM),)


def test_lock_keeps_pins_until_asked_to_upgrade(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    assert lock_image(spec).versions() == {"fakenum": "1.0"}
    fake_index.add(Wheel("fakenum", "1.1", "py3-none-any"))
    assert lock_image(spec).versions() == {"fakenum": "1.0"}
    assert lock_image(spec, upgrade_packages=["fakenum"]).versions() == {"fakenum": "1.1"}


def test_lock_reads_back_pins_and_hashes(fake_index: Index, make_image: MakeImage) -> None:
    spec = make_image("fake-amd64", deps={"torch": "9.0.0+cpu", "fakenum": "1.0"})
    made = lock_image(spec)
    again = read_lock(spec.lockfile)
    assert again.pins == made.pins
    assert again.inputs_hash and again.inputs_hash.startswith("sha256:")


def test_lock_does_not_depend_on_which_mirror_served_a_file(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_image("fake-amd64", deps={"torch": ">=9", "fakenum": "1.0"}, extras=["torch==9.0.0+cpu"])
    lock_image(spec)
    alone = spec.lockfile.read_text()
    # A partial local mirror (as on this machine: some projects, some platforms) seen first.
    mirror = Index(tmp_path / "mirror")
    mirror.add(TORCH_CPU, *(d for d in default_wheels() if d.name == "fakenum"))
    monkeypatch.setenv("PIP_INDEX_URL", mirror.url)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", fake_index.url)
    spec.lockfile.unlink()
    lock_image(spec)
    assert spec.lockfile.read_text() == alone


def test_a_mirror_serving_other_bytes_under_the_same_name_fails_the_lock(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = Index(tmp_path / "mirror")
    mirror.add(Wheel("fakenum", "1.0", "py3-none-any", files={"fakenum/__init__.py": "TAMPERED = True\n"}))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", mirror.url)
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": "1.0"})
    with pytest.raises(LockError, match=r"fakenum-1.0-py3-none-any.whl has different sha256 on different indexes"):
        lock_image(spec)


def test_a_relock_reads_each_wheel_once_when_the_index_serves_no_metadata_files(
    make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_tools: None
) -> None:
    # As behind many PyPI proxies: no PEP 658 .metadata, so pip reads METADATA out of the wheel.
    proxy = Index(tmp_path / "proxy", core_metadata=False)
    proxy.add(*default_wheels())
    isolate_pip(monkeypatch, proxy, tmp_path)
    spec = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0"})
    first = lock_image(spec)
    # Kept by the sha256 the index gives: the wheel itself is not needed again.
    (proxy.files / TORCH_ARM.filename).unlink()
    spec.lockfile.unlink()
    assert lock_image(spec).pins == first.pins
    # Other bytes under the same name are another key: their own dependencies count.
    proxy.add(Wheel("torch", "9.0.0", ARM, ["fakenum==1.0"]))
    assert lock_image(spec).versions() == {"torch": "9.0.0", "fakenum": "1.0"}


def test_a_find_links_wheel_rebuilt_in_place_keeps_its_locked_hash_until_relocked_from_scratch(
    fake_index: Index, make_image: MakeImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A local directory of wheels gives no #sha256=: the lock hashes the file (and caches that by stat).
    links = tmp_path / "wheels"
    links.mkdir()
    path = links / Wheel("fakelocal", "1.0").filename
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    spec = make_image("fake-amd64", deps={"fakelocal": "1.0"})
    path.write_bytes(Wheel("fakelocal", "1.0", files={"fakelocal/__init__.py": "A = 1\n"}).data())
    first = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert lock_image(spec).pins["fakelocal"].hashes == (first,)
    path.write_bytes(Wheel("fakelocal", "1.0", files={"fakelocal/__init__.py": "A = 2  # same version\n"}).data())
    # Other bytes under a locked version do not slip in (the hash-checked install refuses them)...
    assert lock_image(spec).pins["fakelocal"].hashes == (first,)
    # ...until someone re-locks from scratch, and then the new file's hash is taken, not a cached one.
    spec.lockfile.unlink()
    assert lock_image(spec).pins["fakelocal"].hashes == ("sha256:" + hashlib.sha256(path.read_bytes()).hexdigest(),)


def test_one_run_locks_each_image_for_its_own_robot(fake_index: Index, make_image: MakeImage) -> None:
    fake_index.remove(TORCH_CPU)  # PyPI's files only: the x86_64 build pulls its CUDA chain
    arm = make_image("fake-arm64", arch="aarch64", deps={"torch": "9.0.0"})
    gpu = make_image("fake-amd64", deps={"torch": "9.0.0"}, cpu_only=False)
    arm_lock, gpu_lock = lock_images([arm, gpu])  # one pip-compile process for both
    assert arm_lock.versions() == {"torch": "9.0.0"}
    assert arm_lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_ARM),)
    assert set(gpu_lock.versions()) == {"torch", "nvidia-cublas-cu12", "triton", "nvidia-cuda-runtime-cu12"}
    assert gpu_lock.pins["torch"].hashes == (fake_index.hash_of(TORCH_X86),)


def test_an_image_that_cannot_be_locked_keeps_its_lock_and_the_images_before_it_are_locked(
    fake_index: Index, make_image: MakeImage
) -> None:
    arm = make_image("fake-arm64", arch="aarch64", deps={"fakenum": "1.0"})
    broken = make_image("fake-amd64", deps={"fakenum": "1.0"}, extras=["fakenum==7.0"])
    broken.lockfile.parent.mkdir(parents=True, exist_ok=True)
    broken.lockfile.write_text("# the last good lock\n")
    why = r"(?s)cannot lock image fake-amd64: .*fake-amd64: No matching distribution found for fakenum==7\.0"
    with pytest.raises(LockError, match=why):
        lock_images([arm, broken])
    assert read_lock(arm.lockfile).versions() == {"fakenum": "1.0"}
    assert broken.lockfile.read_text() == "# the last good lock\n"
