"""The release a disk image holds, verified as a robot verifies what a deploy sends it.

A robot flashed with an image never checks the release it boots with: the image builder is its
deploy. So `nox -s image` does what the robot's transaction does (horus_pipeline/robot/trust.py,
with the same functions): it reads the manifest's bytes and its signature once, verifies those
bytes against the allowed signers, parses and checks them (format, id, the full-match grammars of
the deploy data), and from then on uses only that copy. The layer archives are copied into a
directory only the builder writes, each hashed as it is copied and compared with the verified
manifest, and the image is assembled from those copies: nothing in dist/bundles can change
under the build once it is checked. All of it happens before any output is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..bundle.release import ReleaseManifest
from ..bundle.signing import SIGN_NAMESPACE, SIGNER_IDENTITY, Signers
from ..determinism import copy_nofollow, read_nofollow, write_atomic
from ..errors import PipelineError
from ..images import ImageSpec
from ..robot import assemble, contract, trust
from ..robot.system import InstallError


@dataclass(frozen=True)
class TrustedRelease:
    """A release manifest as verified: its parsed content, and the bytes and signature it came from."""

    manifest: ReleaseManifest
    body: bytes  # the manifest's bytes, read once: what was verified, and what the image gets
    signature: bytes  # b"" when taken unsigned
    path: Path  # where `body` was read, for messages
    allow_unsigned: bool  # taken without a signature check (--allow-unsigned)

    @property
    def id(self) -> str:
        return self.manifest["id"]


def archive_name(layer_hash: str) -> str:
    """A layer's archive in a bundle, named from its verified hash (as the robot names what it is sent),
    never from the manifest's `archive` field."""
    return f"{contract.LAYERS_DIR}/{layer_hash}.tar.gz"


def find_release(spec: ImageSpec, release: str | None, bundles: Path) -> Path:
    """The manifest of `spec`'s release `release` (its bundle's newest, `latest`, by default)."""
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
    return path


def trusted_release(
    spec: ImageSpec, release: str | None, bundles: Path, signers: Signers | None, allow_unsigned: bool
) -> TrustedRelease:
    """`spec`'s release, verified against `signers`; with `allow_unsigned` and no signers, taken without a
    signature check (as a robot with no trust anchor whose inventory allows unsigned releases)."""
    path = find_release(spec, release, bundles)
    rebuild = f"rebuild it with `nox -s bundle -- {spec.name}`"
    try:
        body = read_nofollow(path)
    except OSError as exc:
        raise PipelineError(f"{path}: {exc.strerror}; {rebuild}") from None
    sig = path.with_name(path.name + ".sig")
    try:
        signature = read_nofollow(sig)
    except FileNotFoundError:
        signature = b""
    except OSError as exc:
        raise PipelineError(f"{sig}: {exc.strerror}; {rebuild} (signed)") from None
    if signers is not None:
        why = trust.verify(signers.text, SIGNER_IDENTITY, SIGN_NAMESPACE, body, signature)
        if why:
            raise PipelineError(
                f"{path}: signature: not signed by a key of {signers.origin} ({why}). A robot would refuse this "
                f"release, so the image is not built and nothing was written. If it is your release, {rebuild} "
                "with the release key configured (`nox -s bundle -- --help`); for lab robots only, build with "
                "--allow-unsigned (the image's metadata then says so)"
            )
    elif not allow_unsigned:
        raise PipelineError(
            f"{path}: no allowed signers to verify release {path.stem} against, and robots obey only signed "
            "releases. Give --allowed-signers FILE (also the flashed robot's trust anchor), or configure the "
            "project's (a release key, or ansible/inventory/allowed_signers: `nox -s bundle -- --help`); for "
            "lab robots only, --allow-unsigned (the image's metadata then says so)"
        )
    where = str(path)
    try:
        manifest = trust.checked_manifest(assemble.parse_manifest(body, where), where)
    except (assemble.AssemblyError, InstallError, contract.ContractError) as exc:
        said = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"  # the file, whatever named it
        raise PipelineError(f"{said}. Refused: a robot would refuse it too; nothing was written") from None
    if manifest["id"] != path.stem:
        raise PipelineError(
            f"{path}: id is {manifest['id']!r}, but the file is release {path.stem}: a manifest put under "
            f"another release's name. Refused, nothing was written; {rebuild}"
        )
    serial = manifest.get("serial")
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        raise PipelineError(f"{path}: serial is {serial!r}: a whole number (the release's order); {rebuild}")
    check_matches(spec, cast(ReleaseManifest, manifest), path)
    return TrustedRelease(cast(ReleaseManifest, manifest), body, signature, path, signers is None)


def check_matches(spec: ImageSpec, manifest: ReleaseManifest, path: Path) -> None:
    """Refuse a release built from another image spec, or from this one before it changed."""
    wanted = {
        "image": spec.name,
        "target.arch": spec.target.arch.name,
        "target.python": spec.target.python,
        "prefix": spec.prefix,
    }
    target = manifest.get("target")
    target = target if isinstance(target, dict) else {}  # an unsigned manifest may hold anything
    found = {
        "image": manifest.get("image"),
        "target.arch": target.get("arch"),
        "target.python": target.get("python"),
        "prefix": manifest.get("prefix"),
    }
    for key, value in wanted.items():
        if found[key] != value:
            raise PipelineError(
                f"release {manifest.get('id')} ({path}) has {key} = {found[key]!r}, but {spec.path} says {value!r}: "
                f"the release was built from another image spec or before {spec.path.name} changed; "
                f"rebuild it with `nox -s bundle -- {spec.name}` or pick a release of this spec with --release"
            )


def stage(release: TrustedRelease, bundles: Path, into: Path) -> None:
    """Fill `into` (an empty directory only this process writes) with the bundle the image is assembled
    from: the verified manifest bytes, and a copy of each layer archive whose sha256 is the manifest's."""
    manifest = release.manifest
    bundle = bundles / manifest["image"]
    (into / contract.LAYERS_DIR).mkdir()
    for layer in manifest["layers"]:
        name = archive_name(layer["hash"])
        try:
            digest = copy_nofollow(bundle / name, into / name)
        except FileExistsError:
            continue  # a layer named twice: copied and checked the first time
        except OSError as exc:
            raise PipelineError(
                f"{bundle / name} ({layer['kind']} {layer['name']} {layer['version']} of release {release.id}): "
                f"{exc.strerror}; rebuild the bundle with `nox -s bundle -- {manifest['image']}`"
            ) from None
        if digest != layer["archive_sha256"]:
            raise PipelineError(
                f"{bundle / name} ({layer['kind']} {layer['name']} {layer['version']}): sha256 {digest}, but "
                f"release {release.id} ({release.path}) says layers[].archive_sha256 = {layer['archive_sha256']}: "
                "the archive changed after the release was built. Refused, nothing was written; rebuild the "
                f"bundle with `nox -s bundle -- {manifest['image']}`"
            )
    (into / "releases").mkdir()
    write_atomic(into / "releases" / f"{release.id}.json", release.body)
