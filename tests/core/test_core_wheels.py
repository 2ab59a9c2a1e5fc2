"""horus_core wheels cross-compiled by zig: tagged right, lean, reproducible, and working."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from horus_testing import require

from horus_pipeline import REPO
from horus_pipeline.core import audit, build_core_wheel
from horus_pipeline.targets import ARCHES, UnknownTargetError, get_arch

# What manylinux_2_17 lets an extension link against that our core uses.
ALLOWED_NEEDED = {"libc.so.6", "librt.so.1", "libpthread.so.0", "libm.so.6", "libdl.so.2"}
ELF_MACHINE = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {name: build_core_wheel(arch, out) for name, arch in ARCHES.items()}


def extension(wheel: Path) -> tuple[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".so")]
        return name, zf.read(name)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("arch", list(ARCHES))
def test_wheel_is_named_and_tagged_for_its_cpu(wheels: dict[str, Path], arch: str) -> None:
    wheel = wheels[arch]
    assert wheel.name == f"horus_core-0.1.0-cp310-abi3-manylinux_2_17_{arch}.whl"
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read("horus_core-0.1.0.dist-info/WHEEL").decode()
    assert f"Tag: cp310-abi3-manylinux_2_17_{arch}" in meta and "Root-Is-Purelib: false" in meta


@pytest.mark.parametrize("arch", list(ARCHES))
def test_auditwheel_agrees_with_the_manylinux_2_17_tag(wheels: dict[str, Path], arch: str) -> None:
    assert audit(wheels[arch], ARCHES[arch]) == f"manylinux_2_17_{arch}"


@pytest.mark.parametrize("arch", list(ARCHES))
def test_extension_is_lean_and_carries_nothing_of_the_build_machine(wheels: dict[str, Path], arch: str) -> None:
    name, data = extension(wheels[arch])
    assert name == "horus/_core.abi3.so"
    elf = ELFFile(io.BytesIO(data))
    assert elf["e_machine"] == ELF_MACHINE[arch]
    # The arch table's number is what tells a rootfs's CPU (sim/rootfs.py reads it from /usr/bin/env).
    assert int.from_bytes(data[18:20], "little") == ARCHES[arch].elf_machine
    sections = [s.name for s in elf.iter_sections()]
    assert not [s for s in sections if s.startswith((".debug", ".zdebug"))], sections
    assert ".symtab" not in sections  # stripped
    needed = {
        t.needed
        for s in elf.iter_sections()
        if isinstance(s, DynamicSection)
        for t in s.iter_tags()
        if t.entry.d_tag == "DT_NEEDED"
    }
    assert needed <= ALLOWED_NEEDED, needed
    for leak in (str(REPO).encode(), b"/root", b"/tmp/", os.uname().nodename.encode()):
        assert leak not in data, leak


def test_x86_64_build_uses_the_baseline_cpu(wheels: dict[str, Path], tmp_path: Path) -> None:
    objdump = shutil.which("objdump")
    require(objdump is not None, "objdump (binutils) is needed to disassemble the extension")
    so = tmp_path / "core.so"
    so.write_bytes(extension(wheels["x86_64"])[1])
    asm = subprocess.run([objdump, "-d", str(so)], capture_output=True, text=True, check=True).stdout
    # AVX registers would mean the build machine's CPU leaked in; baseline x86_64 has only SSE2.
    assert "%ymm" not in asm and "%zmm" not in asm
    assert "%xmm" in asm or "mov" in asm  # the disassembly is real


def test_two_clones_at_different_paths_build_byte_identical_wheels(tmp_path: Path, wheels: dict[str, Path]) -> None:
    clone = tmp_path / "elsewhere" / "deeper" / "horus_core"
    shutil.copytree(REPO / "horus_core", clone, ignore=shutil.ignore_patterns("__pycache__", "build"))
    old = os.environ.get("HORUS_CACHE")
    os.environ["HORUS_CACHE"] = str(tmp_path / "cold-cache")  # a cold zig cache: really compiled again
    try:
        again = {name: build_core_wheel(arch, tmp_path / "out", src=clone) for name, arch in ARCHES.items()}
    finally:
        if old is None:
            del os.environ["HORUS_CACHE"]
        else:
            os.environ["HORUS_CACHE"] = old
    for name in ARCHES:
        assert sha256(again[name]) == sha256(wheels[name]), name


def test_wheel_entries_are_sorted_with_fixed_times_and_modes(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["x86_64"]) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[-1].endswith("RECORD")
    assert len({i.date_time for i in infos}) == 1
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["horus/_core.abi3.so"] == 0o755 and set(modes.values()) <= {0o644, 0o755}


def test_the_host_wheel_installs_and_passes_the_runtime_smoke_test(wheels: dict[str, Path], tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", str(wheels["x86_64"])], check=True)
    out = subprocess.run([py, "-m", "horus.smoke"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "horus smoke: ok" in out.stdout and "x86_64" in out.stdout


def test_an_unknown_arch_lists_the_supported_ones() -> None:
    with pytest.raises(UnknownTargetError, match=r"riscv64.*x86_64 \(amd64\), aarch64 \(arm64\)"):
        get_arch("riscv64")
    out = subprocess.run(
        [sys.executable, "-m", "horus_pipeline.core", "--arch", "riscv64"], capture_output=True, text=True
    )
    assert out.returncode == 1 and "supported arches are x86_64" in out.stderr


def test_a_missing_zig_says_how_to_get_the_pinned_one(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # no ziglang in it
    code = "import horus_build; horus_build._check_zig()"
    out = subprocess.run(
        [bare / "bin" / "python", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "horus_core" / "build_backend")},
    )
    assert out.returncode != 0
    assert "pip install ziglang==0.17.0" in out.stderr


def test_the_sdist_is_complete_and_builds_the_same_wheel(tmp_path: Path, wheels: dict[str, Path]) -> None:
    import tarfile

    from build import ProjectBuilder

    sdist = Path(ProjectBuilder(str(REPO / "horus_core")).build("sdist", str(tmp_path)))
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        assert {i.mtime for i in tar.getmembers()} == {int(os.environ.get("SOURCE_DATE_EPOCH", 1767225600))}
        tar.extractall(tmp_path / "src", filter="data")
    assert "horus_core-0.1.0/csrc/horus.h" in names and "horus_core-0.1.0/PKG-INFO" in names
    unpacked = tmp_path / "src" / "horus_core-0.1.0"
    again = build_core_wheel(ARCHES["x86_64"], tmp_path / "from-sdist", src=unpacked)
    assert sha256(again) == sha256(wheels["x86_64"])
