"""`nox -s image -- --verify FILE --allowed-signers F` against someone who can write where the image
is kept: a deleted signature, or an older signed image renamed to a newer release's name, fails; the
SBOM has a checksum and the same signature. The outputs are small files sealed as `nox -s image`
seals its own (publish.seal), the disk a bare GPT as disk.py writes it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline import REPO
from horus_pipeline.bundle.signing import KEY_ENV, SIGN_NAMESPACE, SIGNER_IDENTITY
from horus_pipeline.gpt import SECTOR, gpt_entry, write_gpt
from horus_pipeline.image import disk, publish

IMAGE = "fleet-amd64"
OLD, NEW = "1111111111111111", "2222222222222222"


@pytest.fixture
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The allowed signers of a release key that `nox -s image` is configured with."""
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed (openssh-client)")
    key = tmp_path / "keys" / "release_key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)], check=True)
    monkeypatch.setenv(KEY_ENV, str(key))
    allowed, public = key.with_name("allowed_signers"), key.with_name("release_key.pub").read_text()
    allowed.write_text(f'{SIGNER_IDENTITY} namespaces="{SIGN_NAMESPACE}" {public}')
    return allowed


@dataclass
class Outputs:
    dest: Path
    release: str

    def __getitem__(self, suffix: str) -> Path:
        return self.dest / f"{self.release}{suffix}"


def write_outputs(dest: Path, release: str, serial: int, *, allow_unsigned: bool = False) -> Outputs:
    """The four outputs of an image of `release` (a disk with the GPT disk.py writes for it), sealed."""
    dest.mkdir(parents=True, exist_ok=True)
    raw = dest / f"{release}.img"
    sectors = 8 * disk.MIB // SECTOR
    with raw.open("wb") as f:
        f.truncate(sectors * SECTOR)
    part = gpt_entry(disk.ROOT_TYPES["x86_64"], disk.image_uuid(IMAGE, release, "root-partition"), 2048, 14335, "root")
    write_gpt(raw, sectors, disk.image_uuid(IMAGE, release, "disk"), part)
    (dest / f"{release}.img.zst").write_bytes(f"the compressed disk of {release}\n".encode())
    (dest / f"{release}.tar").write_bytes(f"the root filesystem of {release}\n".encode())
    publish.write_sbom(dest / f"{release}.sbom.json", IMAGE, release, "systemd\t252\tamd64\n", None)
    publish.seal(dest, IMAGE, release, serial, allow_unsigned)
    return Outputs(dest, release)


def nox_verify(file: Path, signers: Path | None) -> subprocess.CompletedProcess[str]:
    """What `nox -s image -- --verify FILE [--allowed-signers F]` runs."""
    argv = [sys.executable, "-m", "horus_pipeline.image", "--verify", str(file)]
    argv += ["--allowed-signers", str(signers)] if signers else []
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("suffix", publish.OUTPUTS)
def test_every_output_verifies_against_the_signed_metadata(tmp_path: Path, signers: Path, suffix: str) -> None:
    out = write_outputs(tmp_path / IMAGE, NEW, 2)
    run = nox_verify(out[suffix], signers)
    assert run.returncode == 0, run.stderr
    assert f"signature {NEW}.image.json.sig verifies" in run.stdout
    assert f"image {IMAGE}, release {NEW}, serial 2" in run.stdout
    if suffix == ".img":
        assert f"its GPT is release {NEW}'s" in run.stdout


@pytest.mark.parametrize("signature", [".image.json.sig", ".img.zst.sha256.sig"])
def test_a_deleted_signature_fails_when_allowed_signers_are_given(
    tmp_path: Path, signers: Path, signature: str
) -> None:
    out = write_outputs(tmp_path / IMAGE, NEW, 2)
    out[signature].unlink()
    run = nox_verify(out[".img.zst"], signers)
    assert run.returncode == 1
    assert f"error: {out[signature]} is missing" in run.stderr and "Refused" in run.stderr


@pytest.mark.parametrize("with_metadata", [True, False], ids=["all-its-files", "image-and-checksum-only"])
def test_an_older_signed_image_renamed_to_a_newer_release_fails(
    tmp_path: Path, signers: Path, with_metadata: bool
) -> None:
    old = write_outputs(tmp_path / "old", OLD, 1)
    new = write_outputs(tmp_path / IMAGE, NEW, 2)
    # The older image (signed, genuine) put in the place of the newer, under the newer's names.
    moved = [".img.zst", ".img.zst.sha256", ".img.zst.sha256.sig"]
    moved += [".image.json", ".image.json.sig"] if with_metadata else []
    for suffix in moved:
        shutil.copyfile(old[suffix], new[suffix])
    run = nox_verify(new[".img.zst"], signers)
    assert run.returncode == 1, run.stdout
    if with_metadata:
        assert f"{NEW}.img.zst is named as release {NEW}, but {NEW}.image.json is of release {OLD}" in run.stderr
    else:
        assert f"{new['.img.zst']} is not the file {NEW}.image.json names" in run.stderr


def test_the_sbom_has_a_checksum_and_the_same_signature(tmp_path: Path, signers: Path) -> None:
    out = write_outputs(tmp_path / IMAGE, NEW, 2)
    sbom = out[".sbom.json"]
    assert out[".sbom.json.sha256"].read_text().split() == [publish.sha256_file(sbom), sbom.name]
    assert out[".sbom.json.sha256.sig"].is_file()
    meta = json.loads(out[".image.json"].read_text())
    assert meta["outputs"][sbom.name] == publish.sha256_file(sbom)
    assert nox_verify(sbom, signers).returncode == 0

    doc = json.loads(sbom.read_text())
    doc["components"].append({"type": "library", "name": "backdoor", "version": "1"})
    sbom.write_text(json.dumps(doc))
    run = nox_verify(sbom, signers)
    assert run.returncode == 1 and f"{sbom} is not the file {NEW}.image.json names" in run.stderr


def test_the_metadata_says_a_release_was_taken_unsigned(tmp_path: Path, signers: Path) -> None:
    out = write_outputs(tmp_path / IMAGE, NEW, 2, allow_unsigned=True)
    assert json.loads(out[".image.json"].read_text())["allow_unsigned"] is True
    run = nox_verify(out[".img"], signers)
    assert run.returncode == 0, run.stderr
    assert "WARNING: its release was taken without a signature check (--allow-unsigned)" in run.stdout


def test_without_allowed_signers_an_unsigned_image_verifies_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no release key: nothing signed
    out = write_outputs(tmp_path / IMAGE, NEW, 2)
    assert not out[".image.json.sig"].exists() and not out[".img.sha256.sig"].exists()
    run = nox_verify(out[".img.zst"], None)
    assert run.returncode == 0, run.stderr
    assert "not signed (no 2222222222222222.image.json.sig)" in run.stdout
