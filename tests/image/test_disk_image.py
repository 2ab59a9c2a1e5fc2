"""`nox -s image` without robots: the disk layout (read back by util-linux and e2fsprogs, byte-identical
twice) and the errors a user gets for a missing release, a release of another spec, a small disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline.errors import PipelineError
from horus_pipeline.gpt import root_partition
from horus_pipeline.image import disk, publish
from horus_pipeline.image.trusted import check_matches, find_release
from horus_pipeline.images import load_image
from horus_pipeline.targets import get_arch


def tiny_tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("robot\n")
    (root / "bin").mkdir()
    (root / "bin/tool").write_text("#!/bin/sh\n")
    (root / "bin/tool").chmod(0o755)
    for path in (root, *root.rglob("*")):
        os.utime(path, (0, 1767225600))  # content.py clamps mtimes; ctimes and atimes are the disk's business
    return root


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_disk_has_a_gpt_with_the_arch_s_root_partition_and_the_tree_in_it(tmp_path: Path, arch: str) -> None:
    require(bool(shutil.which("mkfs.ext4") and shutil.which("debugfs")), "e2fsprogs is missing")
    out = tmp_path / "disk.img"
    disk.write_disk(tiny_tree(tmp_path / "tree"), out, 64 * disk.MIB, get_arch(arch), "robot", "r1")
    parts = subprocess.run(
        ["partx", "--show", "-o", "START,END,TYPE,UUID", "-g", str(out)], capture_output=True, text=True
    )
    start, end, type_, uuid = parts.stdout.split()
    assert (int(start), int(end)) == (2048, 64 * 2048 - 2048 - 1)
    assert type_ == str(disk.ROOT_TYPES[arch]) and uuid == str(disk.image_uuid("robot", "r1", "root-partition"))
    offset, size = root_partition(out)
    assert (offset, size) == (disk.MIB, 62 * disk.MIB)
    fs = f"{out}?offset={offset}"
    assert (
        subprocess.run(["debugfs", "-R", "cat /etc/hostname", fs], capture_output=True, text=True).stdout == "robot\n"
    )
    mode = subprocess.run(["debugfs", "-R", "stat /bin/tool", fs], capture_output=True, text=True).stdout
    assert "Mode:  0755" in mode
    assert subprocess.run(["e2fsck", "-fn", fs], capture_output=True).returncode == 0


def test_the_same_tree_gives_the_same_disk_bytes(tmp_path: Path) -> None:
    require(bool(shutil.which("mkfs.ext4") and shutil.which("debugfs")), "e2fsprogs is missing")
    first, second = tmp_path / "a.img", tmp_path / "b.img"
    disk.write_disk(tiny_tree(tmp_path / "a"), first, 32 * disk.MIB, get_arch("x86_64"), "robot", "r1")
    disk.write_disk(tiny_tree(tmp_path / "b"), second, 32 * disk.MIB, get_arch("x86_64"), "robot", "r1")
    assert first.read_bytes() == second.read_bytes()


def test_a_disk_too_small_says_the_size_needed() -> None:
    with pytest.raises(PipelineError, match=r"too small for release r1 of robot: it needs 302 MiB; give --size 320M"):
        disk.check_size(256 * disk.MIB, 300 * disk.MIB, "robot", "r1")
    disk.check_size(302 * disk.MIB, 300 * disk.MIB, "robot", "r1")


def bundles_with(tmp_path: Path, manifest: dict[str, object]) -> Path:
    releases = tmp_path / "bundles" / "fleet-amd64" / "releases"
    releases.mkdir(parents=True)
    (releases / "r1.json").write_text(json.dumps(manifest))
    return tmp_path / "bundles"


def test_a_missing_release_names_what_exists_and_how_to_build_one(tmp_path: Path) -> None:
    spec = load_image("fleet-amd64")
    with pytest.raises(
        PipelineError, match=r"no release nope of image fleet-amd64: .*releases there: r1.*nox -s bundle"
    ):
        find_release(spec, "nope", bundles_with(tmp_path, {}))
    with pytest.raises(PipelineError, match=r"no release \(latest\) of image fleet-amd64.*latest does not exist"):
        find_release(spec, None, tmp_path / "bundles")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("image", "demo-amd64", "image"),
        ("prefix", "/opt/other", "prefix"),
        ("target", {"arch": "aarch64", "python": "3.11"}, "target.arch"),
    ],
)
def test_a_release_of_another_spec_is_refused_naming_the_field(field: str, value: object, named: str) -> None:
    spec = load_image("fleet-amd64")
    manifest = {"id": "r1", "image": spec.name, "prefix": spec.prefix, "target": {"arch": "x86_64", "python": "3.11"}}
    manifest[field] = value
    with pytest.raises(
        PipelineError, match=rf"release r1 .* has {named} = .* but .*fleet-amd64.toml says .*nox -s bundle"
    ):
        check_matches(spec, manifest, Path("r1.json"))  # type: ignore[arg-type]


def seal_one(dest: Path, release: str, data: bytes) -> Path:
    """The outputs of an image of `release` (all `data`, but the disk: its GPT is --verify's business), sealed."""
    for suffix in (".img.zst", ".tar", ".sbom.json"):
        (dest / f"{release}{suffix}").write_bytes(data)
    disk.write_disk(tiny_tree(dest / f".{release}.tree"), dest / f"{release}.img", 8 * disk.MIB, get_arch("x86_64"),
                    "robot", release)  # fmt: skip
    publish.seal(dest, "robot", release, 7, allow_unsigned=False)
    return dest / f"{release}.img.zst"


def test_verify_checks_the_sha256_and_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(bool(shutil.which("mkfs.ext4") and shutil.which("debugfs")), "e2fsprogs is missing")
    key = tmp_path / "release_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", key], check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'horus-release namespaces="horus-release" {key.with_suffix(".pub").read_text()}')
    monkeypatch.setenv("HORUS_RELEASE_KEY", str(key))
    image = seal_one(tmp_path, "0123456789abcdef", b"a robot disk")
    said = publish.verify(image, signers)
    assert said[:2] == [
        f"sha256 {publish.sha256_file(image)} matches 0123456789abcdef.image.json",
        "signature 0123456789abcdef.image.json.sig verifies against " + str(signers),
    ]
    assert "image robot, release 0123456789abcdef, serial 7" in said
    assert "its GPT is release 0123456789abcdef's" in publish.verify(image.with_suffix(""), signers)
    other = tmp_path / "other_signers"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "other"], check=True)
    other.write_text(f'horus-release namespaces="horus-release" {(tmp_path / "other.pub").read_text()}')
    with pytest.raises(PipelineError, match=r"0123456789abcdef.image.json.sig does not verify against .*other_signers"):
        publish.verify(image, other)
    image.write_bytes(b"a robot disk, changed")
    with pytest.raises(PipelineError, match=r"0123456789abcdef.img.zst is not the file 0123456789abcdef.image.json"):
        publish.verify(image, signers)


def test_verify_of_an_unsigned_image_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no default release key
    monkeypatch.delenv("HORUS_RELEASE_KEY", raising=False)
    image = tmp_path / "0123456789abcdef.img.zst"
    image.write_bytes(b"a robot disk")
    publish.write_checksum(image)  # an image from before the metadata: its .sha256 alone
    assert publish.verify(image, None)[-1].startswith("not signed")
    signers = tmp_path / "allowed_signers"
    signers.write_text("horus-release ssh-ed25519 AAAA\n")
    with pytest.raises(PipelineError, match=r"0123456789abcdef.image.json is missing: nothing signed ties"):
        publish.verify(image, signers)
    with pytest.raises(PipelineError, match=r"fedcba9876543210.img.zst.sha256 is missing"):
        publish.verify(tmp_path / "fedcba9876543210.img.zst", None)
    with pytest.raises(PipelineError, match=r"r1.img: not the name of an image output"):
        publish.verify(tmp_path / "r1.img", None)
