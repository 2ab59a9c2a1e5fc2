"""What goes beside a disk image: the root filesystem as a tar, the SBOM, the zstd-compressed image,
sha256 files, a signature when a release key is configured; and `--verify` of all that."""

from __future__ import annotations

import datetime
import json
import uuid
from pathlib import Path
from typing import Any

from ..bundle.signing import SIGN_NAMESPACE, SIGNER_IDENTITY, configured_key, sign
from ..determinism import child_env, sha256_file, source_date_epoch, write_atomic
from ..errors import PipelineError
from ..proc import CommandError, run

# zstd's default level: most of a robot disk is free space. Measured on a 768 MiB arm64 fleet image
# on a loaded 2-core machine: level 3, 59.6 MiB in 11 s; level 10, 52.7 MiB in 45 s.
ZSTD_LEVEL = 3
_SBOM_NAMESPACE = uuid.UUID("b8e3f5d4-6a1c-5e2f-8d7b-3c9a0e4f1b26")


def write_rootfs_tar(tree: Path, out: Path) -> None:
    """The tree as a tar: owners, modes, hard links and capabilities kept; sorted, every time the epoch."""
    epoch = source_date_epoch()
    run(
        [
            "tar", "--create", "--file", str(out), "--directory", str(tree), "--sort=name", "--numeric-owner",
            "--xattrs", "--xattrs-include=security.capability", f"--mtime=@{epoch}", "--clamp-mtime", "--format=pax",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", ".",
        ],
        env=child_env(inherit=False),
        what=f"archiving the root filesystem as {out.name}",
    )  # fmt: skip


def compress(raw: Path, out: Path) -> None:
    """zstd of `raw` (the same bytes for the same input on any machine and thread count)."""
    run(["zstd", "-q", "-f", f"-{ZSTD_LEVEL}", "-T0", str(raw), "-o", str(out)], what=f"compressing {raw.name}")


def write_checksum(path: Path) -> Path:
    """`<path>.sha256` in sha256sum's format; signed as `<path>.sha256.sig` when a release key is configured."""
    sums = path.with_name(path.name + ".sha256")
    text = f"{sha256_file(path)}  {path.name}\n".encode()
    write_atomic(sums, text)
    key = configured_key()
    sig = sums.with_name(sums.name + ".sig")
    if key is not None:
        sign(sums, key, text)  # what was hashed and written, not what the file holds by now
    else:
        sig.unlink(missing_ok=True)
    return sums


def write_sbom(out: Path, image: str, release: str, debian: str, python: dict[str, Any] | None) -> None:
    """CycloneDX 1.6: the image's Debian packages (`dpkg-query` of its tree) and its release's Python SBOM."""
    components: list[dict[str, Any]] = []
    for line in sorted(debian.splitlines()):
        name, version, arch = line.split("\t")
        purl = f"pkg:deb/debian/{name}@{version}?arch={arch}"
        components.append({"type": "library", "name": name, "version": version, "purl": purl, "bom-ref": purl})
    components += (python or {}).get("components", [])
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": _iso(source_date_epoch()),
            "component": {"type": "operating-system", "name": image, "version": release, "bom-ref": image},
        },
        "components": components,
    }
    body = json.dumps(doc, indent=1, sort_keys=True)
    doc["serialNumber"] = f"urn:uuid:{uuid.uuid5(_SBOM_NAMESPACE, body)}"
    write_atomic(out, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify(path: Path, allowed_signers: Path | None) -> list[str]:
    """Check `path` against its `.sha256` (and the signature of that, if any); lines saying what passed."""
    sums = path.with_name(path.name + ".sha256")
    if not sums.is_file():
        raise PipelineError(f"{sums} is missing: nothing to verify {path.name} against (`nox -s image` writes it)")
    expected = sums.read_text(encoding="utf-8").split()[0]
    actual = sha256_file(path)
    if actual != expected:
        raise PipelineError(
            f"{path} is corrupt: sha256 {actual}, {sums.name} says {expected}; download or build it again"
        )
    done = [f"sha256 {actual} matches {sums.name}"]
    sig = sums.with_name(sums.name + ".sig")
    if not sig.is_file():
        return [*done, f"not signed (no {sig.name}): configure a release key to sign images"]
    if allowed_signers is None:
        raise PipelineError(f"{sig.name} is there: give --allowed-signers FILE to check it")
    argv = ["ssh-keygen", "-Y", "verify", "-f", str(allowed_signers), "-I", SIGNER_IDENTITY]
    try:
        run([*argv, "-n", SIGN_NAMESPACE, "-s", str(sig)], input=sums.read_bytes(), what="ssh-keygen -Y verify")
    except CommandError as err:
        raise PipelineError(f"{sig} does not verify against {allowed_signers}: {err}") from None
    return [*done, f"signature {sig.name} verifies against {allowed_signers}"]
