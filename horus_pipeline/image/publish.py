"""What goes beside a disk image: the root filesystem as a tar, the SBOM, the zstd-compressed image,
sha256 files, the image's metadata, signatures when a release key is configured; and `--verify`.

The metadata, `<release>.image.json`, is what ties an output to a release: it names the image, the
release id and serial, whether the release was taken unsigned (--allow-unsigned), and the sha256
of each output, and is signed like a release (`.image.json.sig`). `--verify FILE` with allowed
signers wants that signature, and then checks that FILE's name, the release the metadata names and
FILE's sha256 agree: a deleted signature, or an older image renamed to a newer release's name,
fails. Each output also keeps a `.sha256` (sha256sum's format, signed as `.sha256.sig`) for tools
that read only those.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..bundle.signing import SIGN_NAMESPACE, SIGNER_IDENTITY, Signers, configured_key, read_signers, sign
from ..determinism import child_env, read_nofollow, sha256_file, source_date_epoch, write_atomic
from ..errors import PipelineError
from ..gpt import disk_guid
from ..proc import run
from ..robot import contract, trust
from .disk import image_uuid

# zstd's default level: most of a robot disk is free space. Measured on a 768 MiB arm64 fleet image
# on a loaded 2-core machine: level 3, 59.6 MiB in 11 s; level 10, 52.7 MiB in 45 s.
ZSTD_LEVEL = 3
_SBOM_NAMESPACE = uuid.UUID("b8e3f5d4-6a1c-5e2f-8d7b-3c9a0e4f1b26")
# The outputs of a release's image, `<release><suffix>`: what the metadata lists and --verify takes.
OUTPUTS = (".img", ".img.zst", ".tar", ".sbom.json")
METADATA = ".image.json"
METADATA_FORMAT = 1


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


def write_checksum(path: Path, digest: str | None = None) -> Path:
    """`<path>.sha256` in sha256sum's format (of `digest`, else of `path` now); signed as `<path>.sha256.sig`
    when a release key is configured."""
    sums = path.with_name(path.name + ".sha256")
    text = f"{digest or sha256_file(path)}  {path.name}\n".encode()
    _publish_signed(sums, text)
    return sums


def _publish_signed(path: Path, data: bytes) -> None:
    """Write `data` at `path` and, when a release key is configured, its signature at `<path>.sig`; else no
    signature is left there (an old one would vouch for other bytes)."""
    write_atomic(path, data)
    key = configured_key()
    if key is not None:
        sign(path, key, data)  # what was hashed and written, not what the file holds by now
    else:
        path.with_name(path.name + ".sig").unlink(missing_ok=True)


def seal(dest: Path, image: str, release: str, serial: int, allow_unsigned: bool) -> dict[str, str]:
    """Once every output of `release` is in `dest`: the `.sha256` of each and the image's metadata (signed when
    a release key is configured), the metadata last, so it names only what is there. Output name -> sha256."""
    digests = {f"{release}{suffix}": sha256_file(dest / f"{release}{suffix}") for suffix in OUTPUTS}
    for name, digest in digests.items():
        write_checksum(dest / name, digest)
    doc = {
        "format": METADATA_FORMAT,
        "image": image,
        "release": release,
        "serial": serial,
        "allow_unsigned": allow_unsigned,
        "outputs": digests,
    }
    _publish_signed(dest / f"{release}{METADATA}", (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    return digests


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


def release_of(path: Path) -> tuple[str, str]:
    """(release id, output suffix) that an output's file name says."""
    for suffix in sorted(OUTPUTS, key=len, reverse=True):
        if path.name.endswith(suffix) and contract.RELEASE_ID.fullmatch(path.name[: -len(suffix)]):
            return path.name[: -len(suffix)], suffix
    raise PipelineError(
        f"{path.name}: not the name of an image output (<release>{', <release>'.join(OUTPUTS)}, as `nox -s image` "
        "writes them): nothing to verify it against"
    )


def verify(path: Path, allowed_signers: Path | None) -> list[str]:
    """Check the image output `path` against the signed metadata beside it: its signature (wanted whenever
    `allowed_signers` is given), the release it names against `path`'s name, its sha256 of `path`; lines
    saying what passed. Images from before the metadata are checked against their `.sha256` only, and
    only without allowed signers."""
    rid, suffix = release_of(path)
    meta = path.with_name(f"{rid}{METADATA}")
    signers = read_signers(allowed_signers, "--allowed-signers") if allowed_signers is not None else None
    try:
        body = read_nofollow(meta)
    except FileNotFoundError:
        if signers is not None:
            raise PipelineError(
                f"{meta} is missing: nothing signed ties {path.name} to release {rid}, so it cannot be verified "
                "against --allowed-signers; get the whole output set, or build the image again with `nox -s image`"
            ) from None
        return _verify_checksum_only(path)
    sig = meta.with_name(meta.name + ".sig")
    sums = path.with_name(path.name + ".sha256")
    try:
        sums_text = read_nofollow(sums)
    except FileNotFoundError:
        sums_text = None
    done: list[str] = []
    if signers is not None:
        # Every signature written beside the file is wanted: one deleted means someone chose what to show.
        for signed, data in ((meta, body), (sums, sums_text)):
            if data is not None:
                _check_signature(signed, data, signers, path)
        done.append(f"signature {sig.name} verifies against {allowed_signers}")
    elif sig.exists():
        raise PipelineError(f"{sig.name} is there: give --allowed-signers FILE to check it")
    doc = _metadata(body, meta)
    if doc["release"] != rid:
        raise PipelineError(
            f"{path.name} is named as release {rid}, but {meta.name} is of release {doc['release']}: an image "
            "renamed to another release's name. Refused; use the files of the release you want"
        )
    expected = doc["outputs"].get(path.name)
    if expected is None:
        raise PipelineError(f"{meta.name} lists no {path.name}: not an output of that image build")
    actual = sha256_file(path)
    if actual != expected:
        raise PipelineError(
            f"{path} is not the file {meta.name} names: sha256 {actual}, {meta.name} says {expected} (corrupt, or "
            f"another build's {suffix} renamed); download or build it again"
        )
    done.insert(0, f"sha256 {actual} matches {meta.name}")
    if sums_text is not None and sums_text.split() != [expected.encode(), path.name.encode()]:
        raise PipelineError(f"{sums.name} disagrees with {meta.name}: one of them was changed; build the image again")
    if suffix == ".img":
        want = image_uuid(doc["image"], rid, "disk")
        if disk_guid(path) != want:
            raise PipelineError(f"{path.name}: its GPT is not that of release {rid} of {doc['image']} (disk {want})")
        done.append(f"its GPT is release {rid}'s")
    done.append(f"image {doc['image']}, release {rid}, serial {doc['serial']}")
    if doc["allow_unsigned"]:
        done.append("WARNING: its release was taken without a signature check (--allow-unsigned)")
    if signers is None:
        done.append(f"not signed{'' if sig.exists() else f' (no {sig.name})'}: give --allowed-signers to check it")
    return done


def _check_signature(signed: Path, data: bytes, signers: Signers, path: Path) -> None:
    """`<signed>.sig` over `data` (the bytes of `signed` read once), by a key of `signers`."""
    sig = signed.with_name(signed.name + ".sig")
    try:
        signature = read_nofollow(sig)
    except FileNotFoundError:
        raise PipelineError(
            f"{sig} is missing: {signed.name} is not signed, so nothing vouches for {path.name}. Refused; get the "
            "signature with the image, or build the image again with the release key configured"
        ) from None
    why = trust.verify(signers.text, SIGNER_IDENTITY, SIGN_NAMESPACE, data, signature)
    if why:
        raise PipelineError(f"{sig} does not verify against {signers.origin}: {why}")


def _metadata(body: bytes, meta: Path) -> Mapping[str, Any]:
    """The metadata document these bytes hold, refused unless every field is what seal() writes."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PipelineError(f"{meta}: not JSON ({exc}): build the image again") from None
    fields = {
        "format": lambda v: v == METADATA_FORMAT,
        "image": lambda v: isinstance(v, str) and bool(contract.IMAGE.fullmatch(v)),
        "release": lambda v: isinstance(v, str) and bool(contract.RELEASE_ID.fullmatch(v)),
        "serial": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "allow_unsigned": lambda v: isinstance(v, bool),
        "outputs": lambda v: isinstance(v, dict) and all(isinstance(d, str) for d in v.values()),
    }
    if not isinstance(doc, dict):
        raise PipelineError(f"{meta}: not an image metadata document: build the image again")
    for name, ok in fields.items():
        if not ok(doc.get(name)):
            raise PipelineError(f"{meta}: {name} is {doc.get(name)!r}: not what `nox -s image` writes; build it again")
    return doc


def _verify_checksum_only(path: Path) -> list[str]:
    """An image from before the metadata, checked without allowed signers: its `.sha256` only."""
    sums = path.with_name(path.name + ".sha256")
    if not sums.is_file():
        raise PipelineError(f"{sums} is missing: nothing to verify {path.name} against (`nox -s image` writes it)")
    expected, _, named = sums.read_text(encoding="utf-8").partition("  ")
    if named.strip() != path.name:
        raise PipelineError(f"{sums.name} is of {named.strip()!r}, not {path.name}: a renamed file; refused")
    actual = sha256_file(path)
    if actual != expected:
        raise PipelineError(
            f"{path} is corrupt: sha256 {actual}, {sums.name} says {expected}; download or build it again"
        )
    return [f"sha256 {actual} matches {sums.name}", "not signed, and no metadata: give --allowed-signers to check it"]
