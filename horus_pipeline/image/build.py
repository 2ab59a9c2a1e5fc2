"""`nox -s image`: a release of an image spec as a robot disk image, reproducibly.

    dist/images/<image>/<release>.img            raw disk: GPT, one ext4 root partition (disk.py)
    dist/images/<image>/<release>.img.zst        the same, compressed
    dist/images/<image>/<release>.tar            its root filesystem as a tar (owners and modes kept)
    dist/images/<image>/<release>.sbom.json      Debian packages and Python layers (CycloneDX)
    dist/images/<image>/<release>.image.json     what ties them together (publish.py): image, release,
                                                 serial, allow_unsigned and the sha256 of each output
and a .sha256 beside each output; the metadata and each .sha256 signed (.sig) when a release key
is configured.

The release is verified first, as a robot would (trusted.py); a release that fails is refused
before anything is written. The tree is assembled in a hidden directory beside the outputs
(content.py) and removed after; each output is written beside its name and renamed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import REPO
from ..bundle.build import BUNDLES
from ..bundle.release import ReleaseManifest
from ..bundle.sbom import FILENAME as RELEASE_SBOM
from ..bundle.signing import configured_signers, read_signers
from ..console import info, step
from ..determinism import publishing
from ..errors import PipelineError
from ..images import ImageSpec
from ..proc import run
from ..sim.prereqs import IMAGE_PACKAGES, ensure_packages, require_root
from ..sim.rootfs import unmount_under
from . import disk, publish
from .content import build_root
from .trusted import stage, trusted_release

IMAGES = REPO / "dist" / "images"


@dataclass(frozen=True)
class ImageResult:
    image: str
    release: str
    raw: Path
    compressed: Path
    sha256: str
    raw_bytes: int
    compressed_bytes: int
    seconds: float


def build_image(
    spec: ImageSpec,
    release: str | None,
    out: Path = IMAGES,
    size: int | None = None,
    bundles: Path = BUNDLES,
    deploy_key: str | None = None,
    allowed_signers: Path | None = None,
    allow_unsigned: bool = False,
) -> ImageResult:
    """Build the disk image of `spec`'s release (its newest by default, from `bundles`) under `out/<image>/`;
    `deploy_key`: an SSH public key for the `deploy` account Ansible logs in as (none by default);
    `allowed_signers`: the robot's trust anchor, and what the release must be signed by (none by default:
    the release is verified against the project's configured signers, and the robot then takes only what
    an inventory allowing unsigned releases sends, until a deploy provisions one); `allow_unsigned`: take
    the release without a signature check (only without `allowed_signers`), said in the image's metadata."""
    anchor = read_signers(allowed_signers, "--allowed-signers") if allowed_signers is not None else None
    if anchor is not None and allow_unsigned:
        raise PipelineError(
            "--allow-unsigned with --allowed-signers: a robot with a trust anchor obeys only releases signed by "
            "it, so the image's release must be too; leave one of them out"
        )
    signers = None if allow_unsigned else anchor or configured_signers()
    trusted = trusted_release(spec, release, bundles, signers, allow_unsigned)
    if allow_unsigned:
        info(f"WARNING: release {trusted.id} taken without a signature check (--allow-unsigned, said in the metadata)")
    else:
        assert signers is not None
        info(f"release {trusted.id}: signature verified against {signers.origin}")
    require_root("building a robot disk image (file owners, systemd-nspawn)")
    start = time.monotonic()
    rid, manifest = trusted.id, trusted.manifest
    dest = out / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    tree = dest / f".{rid}.tree"
    for left in [tree, *dest.glob(f".{rid}.bundle-*")]:  # what a killed build of this release left
        _remove(left)
    # mkdtemp: a fresh name, mode 0700, so what the image is assembled from is what was checked.
    with tempfile.TemporaryDirectory(prefix=f".{rid}.bundle-", dir=dest) as staged:
        stage(trusted, bundles, Path(staged))
        ensure_packages(IMAGE_PACKAGES)
        tree.mkdir()
        try:
            build_root(spec, trusted, Path(staged), tree, deploy_key, anchor.text if anchor else None)
            needed = disk.tree_bytes(tree)
            size = size or disk.default_size(needed)
            disk.check_size(size, needed, spec.name, rid)
            raw = dest / f"{rid}.img"
            with step(f"Writing the {size >> 20} MiB disk image {raw.name} (GPT, ext4)"):
                with publishing(raw) as tmp:
                    disk.write_disk(tree, tmp, size, spec.target.arch, spec.name, rid)
                with publishing(dest / f"{rid}.tar") as tmp:
                    publish.write_rootfs_tar(tree, tmp)
            _sbom(spec, manifest, tree, dest / f"{rid}.sbom.json")
        finally:
            _remove(tree)
    compressed = raw.with_name(raw.name + ".zst")
    with step(f"Compressing {raw.name} (zstd -{publish.ZSTD_LEVEL})"), publishing(compressed) as tmp:
        publish.compress(raw, tmp)
    digests = publish.seal(dest, spec.name, rid, manifest["serial"], allow_unsigned)
    result = ImageResult(
        spec.name, rid, raw, compressed, digests[raw.name], raw.stat().st_size, compressed.stat().st_size,
        round(time.monotonic() - start, 1),
    )  # fmt: skip
    info(f"{raw}: {result.raw_bytes >> 20} MiB, sha256 {result.sha256}")
    info(f"{compressed}: {result.compressed_bytes / 2**20:.1f} MiB, built in {result.seconds}s")
    return result


def _sbom(spec: ImageSpec, manifest: ReleaseManifest, tree: Path, out: Path) -> None:
    fmt = "-f=${Package}\\t${Version}\\t${Architecture}\\n"
    debian = run(["dpkg-query", f"--admindir={tree}/var/lib/dpkg", "-W", fmt], what="dpkg-query of the image")
    release_sbom = tree / manifest["prefix"].lstrip("/") / "releases" / manifest["id"] / RELEASE_SBOM
    python = json.loads(release_sbom.read_text(encoding="utf-8")) if release_sbom.is_file() else None
    publish.write_sbom(out, spec.name, manifest["id"], debian.stdout.decode(), python)


def _remove(tree: Path) -> None:
    if tree.exists():
        unmount_under(tree)  # a killed nspawn may have left its binds
        shutil.rmtree(tree)
