"""The lock benchmark's reason for a pin uv makes differently (uvpins.py), on the case this machine has.

A first index listing a version with another CPU's wheel only (as file:///opt/pypi/simple lists
numpy 2.4.6 and scipy 1.17.1 with x86_64 wheels), the robot's wheel of it on a later index (PyPI).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import uvpins
from horus_testing import require
from pypi_testing import Index, Wheel, isolate_pip, require_lock_tools, write_repo

from horus_pipeline.images import load_image
from horus_pipeline.lock.compile import lock_image

ARM = "cp311-cp311-manylinux_2_28_aarch64"
X86 = "cp311-cp311-manylinux_2_28_x86_64"


def uv_pins(main: Index, mirror: Index, requirements: Path, output: Path, cache: Path) -> dict[str, str]:
    """`uv pip compile` for an aarch64 robot, the mirror first as on this machine; pins read back from `output`."""
    uv = uvpins.uv_binary()
    require(Path(uv).is_file(), "uv (lockfiles/test.txt) is not installed here")
    argv = [uv, "pip", "compile", "--quiet", "--no-config", "--cache-dir", str(cache), str(requirements)]
    argv += ["-o", str(output), "--generate-hashes", "--python-platform", "aarch64-manylinux_2_36"]
    argv += ["--python-version", "3.11", "--index-strategy", "unsafe-best-match"]
    argv += ["--index-url", main.url, "--extra-index-url", mirror.url]
    subprocess.run(argv, check=True, capture_output=True)
    return dict(line.split(" ")[0].split("==") for line in output.read_text().splitlines() if "==" in line)


def test_uv_drops_a_kept_pin_whose_first_index_has_no_file_for_the_robot_and_the_bench_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_lock_tools()
    main, mirror = Index(tmp_path / "main"), Index(tmp_path / "mirror")
    main.add(Wheel("fakenum", "1.0", ARM), Wheel("fakenum", "1.1", ARM))
    mirror.add(Wheel("fakenum", "1.1", X86))
    isolate_pip(monkeypatch, main, tmp_path)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", mirror.url)
    spec = load_image(write_repo(tmp_path / "repo", "fake-arm64", arch="aarch64", deps={"fakenum": ">=1"}))
    lock = lock_image(spec)
    assert lock.versions() == {"fakenum": "1.1"}
    assert lock_image(spec).versions() == {"fakenum": "1.1"}  # a re-lock keeps it: main has the robot's wheel

    requirements = tmp_path / "requirements.in"
    requirements.write_text("fakenum>=1\n")
    # Afresh, uv agrees; started from our lock (its preferences), it rules 1.1 out.
    assert uv_pins(main, mirror, requirements, tmp_path / "fresh.txt", tmp_path / "uv")["fakenum"] == "1.1"
    seeded = tmp_path / "seeded.txt"
    shutil.copyfile(spec.lockfile, seeded)
    assert uv_pins(main, mirror, requirements, seeded, tmp_path / "uv")["fakenum"] == "1.0"

    indexes = uvpins.uv_index_order([main.url], [mirror.url])
    why = uvpins.explain("fakenum", "1.1", "1.0", indexes, spec.target.wheel_tags(), "aarch64/cp311")
    assert f"the first index listing 1.1, {mirror.url}, which has fakenum-1.1-{X86}.whl and nothing" in why
    assert f"{main.url} has fakenum-1.1-{ARM}.whl" in why
    assert "Ours is right" in why


def test_a_pin_no_index_has_for_the_robot_is_named_as_ours_being_wrong(tmp_path: Path) -> None:
    mirror = Index(tmp_path / "mirror")
    mirror.add(Wheel("fakenum", "1.1", X86))
    tags = [ARM, "py3-none-any"]
    why = uvpins.explain("fakenum", "1.1", "1.0", [mirror.url], tags, "aarch64/cp311")
    assert why == "fakenum: no index has a file of 1.1 for aarch64/cp311 (uv: 1.0): ours cannot install; re-lock it"
