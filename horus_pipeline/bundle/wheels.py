"""The locked wheels of an image, for its robot's CPU: fetched once, hash-checked, content-addressed.

Every pin of a lock names the sha256 of the files its target may install. A wheel lives in
the cache as `<cache>/wheels/<sha256>/<filename>`, so the same file is fetched once for every
image and every clone. A cached file is hashed again before it is used; one whose hash does
not match is deleted and fetched again (never used).

Fetching is `pip download` with the target's platform tags, Python version, implementation
and ABIs, `--only-binary :all:`, `--no-deps` (no marker is evaluated for this host: the lock
already says what the robot needs) and the lock's hashes (pip's hash-checking mode). Where
pip looks is this machine's pip configuration (indexes, find-links, constraints) plus the
image's indexes; none of that reaches a bundle, which records only names, versions and hashes.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from ..cache import cache_dir
from ..console import info, step
from ..determinism import child_env, sha256_file
from ..errors import PipelineError
from ..images import ImageSpec
from ..indexes import reachable_indexes
from ..lock.compile import relock_command
from ..lock.lockfile import Pin
from ..proc import CommandError, run
from ..targets import Target


class WheelError(PipelineError):
    """A locked wheel cannot be had for the target, or a file does not match its locked hash."""


@dataclass(frozen=True)
class LockedWheel:
    """One locked wheel for one target: which pin, which file (by sha256), and where it lies."""

    pin: Pin
    sha256: str  # hex
    path: Path


def wheel_cache() -> Path:
    return cache_dir("wheels")


def _hex(hash_: str) -> str:
    algo, _, hex_ = hash_.partition(":")
    if algo != "sha256" or len(hex_) != 64:
        raise WheelError(f"unsupported hash {hash_!r} in the lock: only sha256 is accepted")
    return hex_


def tag_rank(filename: str, target: Target) -> int | None:
    """How good a wheel's best tag is for the target (0 = best), or None if the robot cannot install it."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    order = {t: i for i, t in enumerate(target.wheel_tags())}
    ranks = [order[str(tag)] for tag in tags if str(tag) in order]
    return min(ranks) if ranks else None


def _cached(hex_: str, target: Target) -> Path | None:
    """The verified cached wheel with this sha256, if any; a corrupt entry is removed (and reported)."""
    entry = wheel_cache() / hex_
    files = sorted(p for p in entry.glob("*.whl")) if entry.is_dir() else []
    for path in files:
        if tag_rank(path.name, target) is None:
            return None
        actual = sha256_file(path)
        if actual == hex_:
            return path
        info(f"cached wheel {path} is corrupt (sha256 {actual}, locked {hex_}): removed, fetching it again")
        shutil.rmtree(entry, ignore_errors=True)
    return None


def chosen_hash(pin: Pin, target: Target) -> str | None:
    """The sha256 of the file this pin installs on the target, when that is known without fetching.

    A lock made for one target usually has one hash per pin: that is the file. With several,
    it is the best-tagged cached one (the one pip chose when it was fetched), else unknown.
    """
    hexes = [_hex(h) for h in pin.hashes]
    if len(hexes) == 1:
        return hexes[0]
    best: tuple[int, str] | None = None
    for hex_ in hexes:
        entry = wheel_cache() / hex_
        for path in entry.glob("*.whl") if entry.is_dir() else []:
            rank = tag_rank(path.name, target)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, hex_)
    return best[1] if best else None


def ensure_wheels(spec: ImageSpec, pins: Sequence[Pin]) -> dict[str, LockedWheel]:
    """The verified wheel of each pin for the image's target, by pin name; fetches what is not cached."""
    target = spec.target
    found: dict[str, LockedWheel] = {}
    missing: list[Pin] = []
    for pin in pins:
        hex_ = chosen_hash(pin, target)
        path = _cached(hex_, target) if hex_ else None
        if hex_ and path:
            found[pin.name] = LockedWheel(pin, hex_, path)
        else:
            missing.append(pin)
    if missing:
        with step(f"fetch {len(missing)} wheel(s) for {spec.name} ({target.describe()})"):
            found.update(_download(spec, missing))
    return found


def _download(spec: ImageSpec, pins: Sequence[Pin]) -> dict[str, LockedWheel]:
    target = spec.target
    with tempfile.TemporaryDirectory(prefix="horus-wheels-", dir=wheel_cache()) as tmp:
        work = Path(tmp)
        reqs = work / "requirements.txt"
        reqs.write_text(
            "".join(f"{p.requirement} " + " ".join(f"--hash={h}" for h in p.hashes) + "\n" for p in pins),
            encoding="utf-8",
        )
        argv: list[str | Path] = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
            "--python-version", target.python, "--implementation", "cp",
            "--abi", target.python_tag, "--abi", "abi3", "--abi", "none",
            "--progress-bar", "off", "--dest", work / "out", "-r", reqs,
        ]  # fmt: skip
        for platform in target.arch.platform_tags(target.glibc):
            argv += ["--platform", platform]
        for url in reachable_indexes(spec.indexes):
            argv += ["--extra-index-url", url]
        try:
            run(argv, env=child_env(), what=f"pip download for {spec.name}")
        except CommandError as exc:
            raise _explain(spec, pins, exc) from None
        result: dict[str, LockedWheel] = {}
        downloaded = sorted((work / "out").glob("*.whl"))
        for pin in pins:
            result[pin.name] = _store(spec, pin, downloaded)
    return result


def _store(spec: ImageSpec, pin: Pin, downloaded: Sequence[Path]) -> LockedWheel:
    """Move the pin's downloaded wheel into the cache under its sha256, after checking it once more."""
    for path in downloaded:
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if name != pin.name or version != Version(pin.version):
            continue
        hex_ = sha256_file(path)
        if f"sha256:{hex_}" not in pin.hashes:
            raise WheelError(
                f"{path.name} for {pin.requirement} has sha256 {hex_}, which the lock does not list: "
                f"refusing it. Re-lock with: {relock_command(spec)}"
            )
        if tag_rank(path.name, spec.target) is None:
            raise _no_wheel(spec, pin)
        entry = wheel_cache() / hex_
        staging = Path(tempfile.mkdtemp(prefix=f".{hex_}-", dir=wheel_cache()))
        shutil.move(path, staging / path.name)
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
        return LockedWheel(pin, hex_, entry / path.name)
    raise _no_wheel(spec, pin)


def _no_wheel(spec: ImageSpec, pin: Pin) -> WheelError:
    return WheelError(
        f"no wheel of {pin.requirement} for {spec.target.describe()} (image {spec.name}) matches the lock: "
        f"the robot cannot install it without compiling. Fix: pin a version that ships a wheel for "
        f"{spec.target.arch.name} (in {spec.path.name} [python] extras, then {relock_command(spec)}), "
        "or add an index that has one to [python] indexes"
    )


def _explain(spec: ImageSpec, pins: Sequence[Pin], exc: CommandError) -> WheelError:
    text = str(exc)
    for pin in pins:
        needles = (f"matching distribution found for {pin.name}=={pin.version}", f"{pin.name}=={pin.version}")
        if "No matching distribution" in text and any(n.lower() in text.lower() for n in needles[:1]):
            return _no_wheel(spec, pin)
    if "THESE PACKAGES DO NOT MATCH THE HASHES" in text:
        return WheelError(
            f"a wheel pip found for {spec.name} does not match the lock's hashes (refused):\n{text}\n"
            f"If the lock is right, an index serves a different file; else re-lock with: {relock_command(spec)}"
        )
    if "No matching distribution" in text:
        names = ", ".join(p.requirement for p in pins)
        return WheelError(
            f"pip found no wheel for {spec.target.describe()} among {names}:\n{text}\n"
            f"Fix: pin versions that ship wheels for {spec.target.arch.name}, then {relock_command(spec)}"
        )
    return WheelError(str(exc))
