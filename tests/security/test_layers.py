"""Hostile layer archives and manifests, as the robot's assembly tool (running as root) meets them:
each is refused before anything has its final name, or normalised to what the build makes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pypi_testing import Wheel

from horus_pipeline.bundle.layers import LayerError, install_wheel
from horus_pipeline.robot import assemble
from horus_pipeline.targets import DEBIAN_RELEASES, get_arch

Member = Callable[[tarfile.TarFile], None]


def entry(name: str, data: bytes = b"x", **attrs: object) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        for key, value in attrs.items():
            setattr(info, key, value)
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)

    return add


def archive(tmp_path: Path, *members: Member) -> tuple[Path, str]:
    """A layer archive of these members (named by a made-up layer hash) and its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for add in members:
            add(tar)
    path = tmp_path / "incoming" / f"{'ab' * 32}.tar.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path, hashlib.sha256(buf.getvalue()).hexdigest()


def nothing_unpacked(root: Path) -> bool:
    layers = root / "layers"
    return not layers.exists() or not any(layers.iterdir())


HOSTILE = {
    "parent directory": [entry("../../etc/cron.d/evil")],
    "absolute path": [entry("/etc/cron.d/evil")],
    "dot path": [entry("./lib/x.py")],
    "symlink out": [entry("lib/shadow", type=tarfile.SYMTYPE, linkname="/etc/shadow")],
    "hard link out": [entry("lib/shadow", type=tarfile.LNKTYPE, linkname="../../etc/shadow")],
    "fifo": [entry("lib/pipe", type=tarfile.FIFOTYPE)],
    "device": [entry("lib/mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1)],
    "duplicate entry": [entry("lib/mod.py", b"good"), entry("lib/mod.py", b"evil")],
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_entry_is_refused_and_nothing_is_unpacked(case: str, tmp_path: Path) -> None:
    path, sha = archive(tmp_path, entry("lib", type=tarfile.DIRTYPE, mode=0o755), *HOSTILE[case])
    root = tmp_path / "opt"
    with pytest.raises(assemble.AssemblyError, match=path.name):
        assemble.unpack(str(root), str(path), sha)
    assert nothing_unpacked(root)
    assert not (tmp_path / "etc").exists()


def test_a_layer_bigger_than_its_manifest_says_is_refused(tmp_path: Path) -> None:
    path, sha = archive(tmp_path, entry("a.bin", b"0" * 4096), entry("b.bin", b"1" * 4096))
    root = tmp_path / "opt"
    with pytest.raises(assemble.AssemblyError, match="past its size in the manifest"):
        assemble.unpack(str(root), str(path), sha, max_bytes=6000)
    assert nothing_unpacked(root)
    assert Path(assemble.unpack(str(root), str(path), sha, max_bytes=8192)).is_dir()


def test_modes_and_owners_become_what_the_build_makes(tmp_path: Path) -> None:
    path, sha = archive(
        tmp_path,
        entry("bin", type=tarfile.DIRTYPE, mode=0o1777, uid=1000, gid=1000),
        entry("bin/setuid-tool", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000, uname="mallory"),
        entry("bin/world-writable", b"x", mode=0o666),
        entry("bin/group-exec", b"x", mode=0o2775),
    )
    layer = Path(assemble.unpack(str(tmp_path / "opt"), str(path), sha))
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [layer / "bin", *(layer / "bin").iterdir()]}
    assert modes == {"bin": 0o755, "setuid-tool": 0o755, "world-writable": 0o644, "group-exec": 0o755}
    if os.geteuid() == 0:  # only root can give files away; the robot's tool runs as root
        assert {(p.stat().st_uid, p.stat().st_gid) for p in [layer / "bin", *(layer / "bin").iterdir()]} == {(0, 0)}


def signed_like(manifest: dict[str, object]) -> dict[str, object]:
    manifest["id"] = assemble.release_id(manifest)
    return manifest


@pytest.mark.parametrize(
    "script",
    [
        {"name": "../../../usr/local/bin/evil", "module": "m", "attr": "main"},
        {"name": ".hidden", "module": "m", "attr": "main"},
        {"name": "tool", "module": "os; import evil", "attr": "main"},
        {"name": "tool", "module": "m", "attr": "main()\nimport os"},
    ],
)
def test_a_manifest_naming_a_hostile_console_script_is_refused(script: dict[str, str], tmp_path: Path) -> None:
    manifest = signed_like({"format": assemble.FORMAT, "layers": [], "console_scripts": [script]})
    path = tmp_path / "release.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(assemble.AssemblyError, match="refused, nothing written"):
        assemble.load_manifest(str(path))


def test_a_wheel_declaring_a_hostile_console_script_fails_the_build(tmp_path: Path) -> None:
    wheel = Wheel(
        "evil",
        "1.0",
        files={"evil/__init__.py": "def main(): pass\n"},
        entry_points="[console_scripts]\n../../evil = evil:main\n",
    )
    path = tmp_path / wheel.filename
    path.write_bytes(wheel.data())
    target = DEBIAN_RELEASES["bookworm"].target(get_arch("x86_64"))
    with pytest.raises(LayerError, match=r"evil-1.0-py3-none-any.whl declares a console script .*'\.\./\.\./evil'"):
        install_wheel(path, tmp_path / "layer", target)


def test_the_tool_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "venv-bin-tool"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        assemble._write(str(link), "#!/bin/sh\n", 0o755)
    assert not target.exists()
