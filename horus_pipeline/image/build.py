"""`nox -s image`: a release of an image spec as a robot disk image, reproducibly.

    dist/images/<image>/<release>.img            raw disk: GPT, one ext4 root partition (disk.py)
    dist/images/<image>/<release>.img.zst        the same, compressed (+ .sha256, + .sha256.sig when signed)
    dist/images/<image>/<release>.tar            its root filesystem as a tar (owners and modes kept)
    dist/images/<image>/<release>.sbom.json      Debian packages and Python layers (CycloneDX)
    dist/images/<image>/<release>.img.sha256     and .tar.sha256

The tree is assembled in a hidden directory beside the outputs (content.py) and removed after;
each output is written beside its name and renamed.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .. import REPO
from ..bundle.build import BUNDLES
from ..bundle.release import ReleaseManifest, read_manifest
from ..bundle.sbom import FILENAME as RELEASE_SBOM
from ..console import info, step
from ..determinism import publishing, sha256_file
from ..errors import PipelineError
from ..images import ImageSpec
from ..proc import run
from ..sim.prereqs import IMAGE_PACKAGES, ensure_packages, require_root
from ..sim.rootfs import unmount_under
from . import disk, publish
from .content import build_root

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


def find_release(spec: ImageSpec, release: str | None, bundles: Path = BUNDLES) -> tuple[ReleaseManifest, Path]:
    """The release manifest of `spec` to put in the image (its bundle's newest by default) and its bundle."""
    bundle = bundles / spec.name
    latest = bundle / "latest"
    rid = release or (latest.read_text(encoding="utf-8").strip() if latest.is_file() else "")
    path = bundle / "releases" / f"{rid}.json"
    if not rid or not path.is_file():
        known = sorted(p.stem for p in (bundle / "releases").glob("*.json"))
        raise PipelineError(
            f"no release {rid or '(latest)'} of image {spec.name}: {path if rid else latest} does not exist "
            f"(releases there: {', '.join(known) or 'none'}); build one with `nox -s bundle -- {spec.name}`"
        )
    manifest = read_manifest(path)
    check_matches(spec, manifest, path)
    return manifest, bundle


def check_matches(spec: ImageSpec, manifest: ReleaseManifest, path: Path) -> None:
    """Refuse a release built from another image spec, or from this one before it changed."""
    wanted = {
        "image": spec.name,
        "target.arch": spec.target.arch.name,
        "target.python": spec.target.python,
        "prefix": spec.prefix,
    }
    found = {
        "image": manifest["image"],
        "target.arch": manifest["target"]["arch"],
        "target.python": manifest["target"]["python"],
        "prefix": manifest["prefix"],
    }
    for key, value in wanted.items():
        if found[key] != value:
            raise PipelineError(
                f"release {manifest['id']} ({path}) has {key} = {found[key]!r}, but {spec.path} says {value!r}: "
                f"the release was built from another image spec or before {spec.path.name} changed; "
                f"rebuild it with `nox -s bundle -- {spec.name}` or pick a release of this spec with --release"
            )


def build_image(
    spec: ImageSpec,
    release: str | None,
    out: Path = IMAGES,
    size: int | None = None,
    bundles: Path = BUNDLES,
    deploy_key: str | None = None,
    allowed_signers: Path | None = None,
) -> ImageResult:
    """Build the disk image of `spec`'s release (its newest by default, from `bundles`) under `out/<image>/`;
    `deploy_key`: an SSH public key for the `deploy` account Ansible logs in as (none by default);
    `allowed_signers`: the robot's trust anchor (none by default: the robot then takes only what an
    inventory allowing unsigned releases sends, until a deploy provisions one)."""
    require_root("building a robot disk image (file owners, systemd-nspawn)")
    ensure_packages(IMAGE_PACKAGES)
    start = time.monotonic()
    manifest, bundle = find_release(spec, release, bundles)
    rid = manifest["id"]
    dest = out / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    tree = dest / f".{rid}.tree"
    _remove(tree)
    tree.mkdir()
    try:
        build_root(spec, manifest, bundle, tree, deploy_key, allowed_signers)
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
    for path in (raw, dest / f"{rid}.tar", compressed):
        publish.write_checksum(path)
    result = ImageResult(
        spec.name, rid, raw, compressed, sha256_file(raw), raw.stat().st_size, compressed.stat().st_size,
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
