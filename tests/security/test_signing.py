"""The signing step in a directory another user can write to (a shared dist/, a CI workspace): links
planted where it writes are never written through, and the signature covers the bytes the pipeline
wrote and vouches for, not whatever the file holds when it is signed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline.bundle.signing import KEY_ENV, SIGN_NAMESPACE, sign
from horus_pipeline.determinism import write_atomic
from horus_pipeline.image import publish

VICTIM = b"precious: a file the signing step must never write\n"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed (openssh-client)")
    key = tmp_path / "keys" / "release_key"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(key)], check=True)
    return key


def verifies(key: Path, sig: Path, data: bytes) -> bool:
    allowed = key.with_name("allowed_signers")
    allowed.write_text(f"ci@robots {key.with_name(key.name + '.pub').read_text()}")
    verify = ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "ci@robots", "-n", SIGN_NAMESPACE,
              "-s", str(sig)]  # fmt: skip
    return subprocess.run(verify, input=data, capture_output=True).returncode == 0


def plant(link: Path, victim: Path) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(victim)


def test_links_planted_where_signing_writes_are_never_written_through(tmp_path: Path, key: Path) -> None:
    releases = tmp_path / "releases"
    releases.mkdir()
    manifest = releases / "3f0c9a1b2c3d4e5f.json"
    write_atomic(manifest, b'{"id": "3f0c9a1b2c3d4e5f"}\n')
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    # The signature's path, and every name a signing step has used beside it for its own files.
    names = [f"{manifest.name}.sig", f".{manifest.name}", f".{manifest.name}.sig", f"{manifest.name}.sig~"]
    for name in names:
        plant(releases / name, victim)

    sig = sign(manifest, key)

    assert victim.read_bytes() == VICTIM
    assert sig == releases / f"{manifest.name}.sig" and not sig.is_symlink() and sig.is_file()
    assert verifies(key, sig, manifest.read_bytes())


def test_the_signature_covers_the_bytes_given_not_what_the_file_holds_later(tmp_path: Path, key: Path) -> None:
    manifest = tmp_path / "release.json"
    written = b'{"id": "good"}\n'
    manifest.write_bytes(b'{"id": "swapped in after the pipeline wrote it"}\n')
    sig = sign(manifest, key, written)
    assert verifies(key, sig, written)
    assert not verifies(key, sig, manifest.read_bytes())


def test_a_manifest_that_is_a_link_is_refused_not_signed(tmp_path: Path, key: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    manifest = tmp_path / "release.json"
    manifest.symlink_to(victim)
    with pytest.raises(OSError):
        sign(manifest, key)
    assert not manifest.with_name("release.json.sig").exists()


def test_a_checksum_swapped_before_it_is_signed_does_not_get_the_signature(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "robot.img"
    image.write_bytes(b"\0" * 4096)
    monkeypatch.setenv(KEY_ENV, str(key))
    forged = f"{'0' * 64}  robot.img\n".encode()

    def write_then_swap(path: Path, data: str | bytes) -> None:
        write_atomic(path, data)
        path.write_bytes(forged)  # another user rewrites the file between the write and the signing

    monkeypatch.setattr(publish, "write_atomic", write_then_swap)
    sums = publish.write_checksum(image)
    sig = sums.with_name(sums.name + ".sig")
    assert verifies(key, sig, f"{hashlib.sha256(image.read_bytes()).hexdigest()}  robot.img\n".encode())
    assert not verifies(key, sig, forged)


def test_a_link_planted_at_an_atomic_writes_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    out = tmp_path / "latest"
    plant(out.with_name("latest~"), victim)
    plant(out, victim)
    write_atomic(out, b"3f0c9a1b2c3d4e5f\n")
    assert victim.read_bytes() == VICTIM
    assert not out.is_symlink() and out.read_bytes() == b"3f0c9a1b2c3d4e5f\n"
