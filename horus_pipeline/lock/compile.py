"""Per-image locks: `lockfiles/<image>.txt`, made by pip-compile for the image's target.

Input: the app's horus.toml `source = "pypi"` dependencies, with the image's `[python] extras`
added (an extra naming the same package replaces the manifest's entry), rendered to
`.horus/pyproject.toml` exactly as `horus build` renders it. pip-compile (pip-tools, pinned
with pip in lockfiles/tools.txt) runs in a subprocess through `driver`, which makes pip
resolve with the target's marker environment and wheel tags and take hashes from the index.

Where packages come from is pip's own configuration (`PIP_*`, pip.conf) plus the image's
`indexes`; none of it is written to the lock. A lock records a hash of its inputs in its
header (`# horus-lock: inputs = ...`); `check_lock_fresh` refuses a lock whose inputs changed.
A CPU-only image fails to lock if any nvidia-*, cuda-* or triton package is pinned.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from .. import REPO
from ..cache import cache_dir, input_key
from ..console import info, run_cli, step
from ..determinism import write_atomic
from ..errors import PipelineError
from ..images import ImageSpec, all_images, load_image
from ..indexes import reachable_indexes
from ..proc import CommandError, Started, run
from ..project import load_project, write_pyproject
from . import pylock, uptodate
from .driver import EXIT_TOOLS, TESTED
from .driver_process import start_driver
from .lockfile import HEADER, Lock, chain, machine_specific_lines, parse_lock, read_lock

# Bump when the lock's format or the meaning of its inputs changes: every lock becomes stale.
LOCK_FORMAT = 1
# Packages a CPU-only robot must never get: CUDA runtime wheels and the GPU compiler.
CUDA_PACKAGE = re.compile(r"^(nvidia-.+|cuda-.+|triton|pytorch-triton(-.+)?)$")


class LockError(PipelineError):
    """A lock could not be made or is not acceptable; the message says why and what to do."""


class StaleLockError(LockError):
    """A lock is missing or was made from other inputs; the message has the command that re-locks."""


@dataclass(frozen=True)
class LockInputs:
    """Everything a lock's resolution depends on, apart from what the indexes hold."""

    image: str
    project: str
    requirements: tuple[str, ...]
    target: str
    cpu_only: bool
    indexes: tuple[str, ...]

    def digest(self) -> str:
        blob = json.dumps(
            {
                "format": LOCK_FORMAT,
                "tools": TESTED,
                "image": self.image,
                "project": self.project,
                "requirements": list(self.requirements),
                "target": self.target,
                "cpu_only": self.cpu_only,
                "indexes": list(self.indexes),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def relock_command(spec: ImageSpec) -> str:
    return f"nox -s lock -- {spec.name}"


def merge_requirements(base: Sequence[str], extras: Sequence[str]) -> list[str]:
    """The manifest's requirements with the image's extras added; an extra replaces a same-named entry."""
    by_name = {_req_name(r): r for r in base}
    by_name.update({_req_name(r): r for r in extras})
    return [by_name[k] for k in sorted(by_name)]


def _req_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise LockError(f"not a requirement: {requirement!r}")
    return canonicalize_name(match.group(1))


def lock_inputs(spec: ImageSpec) -> LockInputs:
    project = load_project(spec.app)
    return LockInputs(
        image=spec.name,
        project=project.name,
        requirements=tuple(merge_requirements(project.pypi_requirements(), spec.extras)),
        target=spec.target.describe(),
        cpu_only=spec.cpu_only,
        indexes=spec.indexes,
    )


def check_lock_fresh(image: ImageSpec | str, lockfile: Path | None = None) -> Lock:
    """Return the image's lock if it was made from the current inputs; else raise StaleLockError."""
    spec = image if isinstance(image, ImageSpec) else load_image(image)
    path = lockfile or spec.lockfile
    if not path.is_file():
        raise StaleLockError(f"{_show(path)} does not exist: lock image {spec.name} with: {relock_command(spec)}")
    lock = read_lock(path)
    expected = lock_inputs(spec).digest()
    if lock.inputs_hash != expected:
        raise StaleLockError(
            f"{_show(path)} is stale: {_show(spec.app / 'horus.toml')} [dependencies], "
            f"{_show(spec.path)} [target]/[python] or the lock tools changed since it was made "
            f"(inputs {lock.inputs_hash or 'unrecorded'}, now {expected}). "
            f"Re-lock with: {relock_command(spec)}"
        )
    return lock


@dataclass(frozen=True)
class LockJob:
    """One image to lock: where its lock goes and the earlier lock whose pins it keeps."""

    spec: ImageSpec
    output: Path
    seed: Path | None = None


def compile_locks(
    jobs: Sequence[LockJob],
    *,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    driver: Started | None = None,
) -> list[Lock]:
    """Resolve each job's lock, in one pip-compile process, and write each to its `output` atomically.

    Locks are written in order; on an error in one, the earlier ones are written and it and the
    later ones are untouched. A seed's pins are kept where they can be (unless `upgrade`).
    `driver`: the pip-compile process if the caller started it already (see driver_process).
    """
    # The driver starts while the jobs are laid out and the indexes probed here (driver_process).
    driver = driver or start_driver()
    driver.what = "pip-compile for " + ", ".join(job.spec.name for job in jobs)
    # The scratch is in the pipeline's cache: a record of the run (uptodate.py) ignores what is read there.
    with driver, tempfile.TemporaryDirectory(prefix="horus-lock-", dir=cache_dir("piptools")) as tmp:
        driver_jobs = [_driver_job(job, Path(tmp) / str(i), upgrade, upgrade_packages) for i, job in enumerate(jobs)]
        failure = None
        try:
            driver.finish(json.dumps({"cache": str(driver_cache()), "jobs": driver_jobs}).encode())
        except CommandError as exc:
            failure = exc
        return [_finish(job, Path(tmp) / str(i), failure) for i, job in enumerate(jobs)]


def driver_cache() -> Path:
    """The driver's caches: wheel METADATA, local files' digests, evaluated pages, and the memo (memo.py) in `memo/`."""
    return cache_dir("piptools") / "driver"


def _driver_job(job: LockJob, work: Path, upgrade: bool, upgrade_packages: Sequence[str]) -> dict[str, object]:
    """Lay out the job's pip-compile input in `work`; what the driver needs to run it."""
    spec, target = job.spec, job.spec.target
    work.mkdir()
    write_pyproject(load_project(spec.app), work, list(lock_inputs(spec).requirements))
    if job.seed is not None and job.seed.is_file() and not upgrade:
        shutil.copyfile(job.seed, work / "lock.txt")
    args = [
        "--generate-hashes",
        "--allow-unsafe",  # torch needs setuptools: a hash-checked install needs it pinned
        "--strip-extras",
        "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
        "--no-build-isolation",  # read .horus/pyproject.toml with the pinned tools' setuptools
        "--cache-dir", str(cache_dir("piptools") / input_key([target.describe(), TESTED])),
        "--output-file", "lock.txt",
    ]  # fmt: skip
    reachable = reachable_indexes(spec.indexes)
    uptodate.skipped_indexes([url for url in spec.indexes if url not in reachable])
    for url in reachable:
        args += ["--extra-index-url", url]
    if upgrade:
        args.append("--upgrade")
    for name in upgrade_packages:
        args += ["--upgrade-package", name]
    args.append(".horus/pyproject.toml")
    return {
        "name": spec.name,
        "markers": target.marker_environment(),
        "tags": target.wheel_tags(),
        "cwd": str(work),
        "env": {"CUSTOM_COMPILE_COMMAND": relock_command(spec)},
        "args": args,
    }


def _finish(job: LockJob, work: Path, failure: CommandError | None) -> Lock:
    """Check the job's pip-compile output and write it to job.output; raise if its run failed."""
    spec = job.spec
    if not (work / "ok").is_file():
        text = str(failure) if failure else "pip-compile did not run"
        hint = "" if f"(exit {EXIT_TOOLS})" not in text else " (install the pinned lock tools)"
        raise LockError(f"cannot lock image {spec.name}{hint}: {text}")
    if (work / "kept").is_file():
        info(f"{spec.name}: inputs and index pages as at its last lock: its resolution kept (pip-compile not run)")
    text = finish_lock((work / "lock.txt").read_text(encoding="utf-8"), spec, lock_inputs(spec), work)
    lock = parse_lock(text, job.output)
    check_lock(lock, spec)
    uptodate.saw_pages(json.loads((work / "pages.json").read_text(encoding="utf-8")))
    files = json.loads((work / "files.json").read_text(encoding="utf-8"))
    pep751 = pylock.render(spec, lock, files)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pylock.pylock_path(spec, job.output.parent), pep751)
    write_atomic(job.output, text)
    return lock


def finish_lock(text: str, spec: ImageSpec, inputs: LockInputs, work: Path) -> str:
    """Our header on top; refuse anything that names this machine's indexes or paths."""
    lines = [line for line in text.splitlines() if not line.startswith(HEADER)]
    body = "\n".join(lines).strip("\n") + "\n"
    leaks = machine_specific_lines(lines) + [line for line in lines if str(work) in line]
    if leaks:
        raise LockError(
            f"the lock for {spec.name} would record this machine's index or paths: {leaks[0].strip()!r}. "
            "Report this: pip-compile's --no-emit-* options should have kept it out"
        )
    header = (
        f"{HEADER}image = {spec.name}\n{HEADER}target = {spec.target.describe()}\n{HEADER}inputs = {inputs.digest()}\n"
    )
    return header + body


def check_lock(lock: Lock, spec: ImageSpec) -> None:
    """A CPU-only image pins no CUDA package; every pin has a hash of a file the target can install."""
    if spec.cpu_only:
        bad = [name for name in lock.pins if CUDA_PACKAGE.match(name)]
        if bad:
            chains = "; ".join(" -> ".join(chain(lock, name)) for name in bad[:3])
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            raise LockError(
                f"image {spec.name} is CPU-only but its lock pins {len(bad)} CUDA package(s): "
                f"{chains}{more}. "
                f"Fix: pin a CPU build in {_show(spec.path)} [python] extras, e.g. 'torch==X.Y.Z+cpu' from "
                "the PyTorch CPU index (on aarch64, PyPI's torch<=2.10.0 is CPU-only)"
            )
    for pin in lock.pins.values():
        if not pin.hashes:
            raise LockError(
                f"image {spec.name}: {pin.requirement} has no file for {spec.target.describe()}; "
                f"pin another version in {_show(spec.path)} [python] extras"
            )


def lock_images(
    specs: Sequence[ImageSpec],
    *,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    lockdir: Path | None = None,
    driver: Started | None = None,
) -> list[Lock]:
    """Lock images into `lockdir` (default: lockfiles/ beside their images/), keeping existing pins."""
    jobs = [LockJob(s, (lockdir / f"{s.name}.txt") if lockdir else s.lockfile, s.lockfile) for s in specs]
    what = ", ".join(f"{s.name} ({s.target.describe()})" for s in specs)
    with step(f"lock {what}"):
        locks = compile_locks(jobs, upgrade=upgrade, upgrade_packages=upgrade_packages, driver=driver)
    for job, lock in zip(jobs, locks, strict=True):
        info(f"{_show(job.output)}: {len(lock.pins)} pins, {sum(len(p.hashes) for p in lock.pins.values())} hashes")
    return locks


def lock_image(
    spec: ImageSpec,
    *,
    upgrade: bool = False,
    upgrade_packages: Sequence[str] = (),
    lockdir: Path | None = None,
) -> Lock:
    """Lock one image (see lock_images)."""
    (lock,) = lock_images([spec], upgrade=upgrade, upgrade_packages=upgrade_packages, lockdir=lockdir)
    return lock


def install_lock(spec: ImageSpec, lockfile: Path | None = None, *, target_dir: Path | None = None) -> None:
    """pip install the image's locked wheels (hash-checked, no resolution) into this Python or `target_dir`."""
    path = lockfile or spec.lockfile
    host = platform.machine()
    if spec.target.arch.name != host:
        raise LockError(f"cannot install {spec.name}'s lock ({spec.target.arch.name}) on this {host} machine")
    argv: list[str | Path] = [sys.executable, "-m", "pip", "install", "--require-hashes", "--no-deps"]
    argv += ["--only-binary", ":all:", "-r", path]
    for url in reachable_indexes(spec.indexes):
        argv += ["--extra-index-url", url]
    if target_dir is not None:
        argv += ["--target", target_dir]
    with step(f"install the {len(read_lock(path).pins)} packages of {_show(path)}"):
        run(argv, what=f"pip install -r {_show(path)}")


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None, *, driver: Started | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s lock",
        description="Lock every image's Python dependencies for its robot's CPU (lockfiles/<image>.txt), "
        "then write the app's horus.lock. Existing pins are kept unless --upgrade is given. When nothing the "
        "locks are made from changed since the same command last ran here (image specs, manifests, locks, the "
        "pipeline and lock tools, pip's configuration, the index pages, fetched again), it says 'up to date' "
        "and writes nothing.",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="images to lock (default: all in images/)")
    parser.add_argument("--upgrade", action="store_true", help="re-resolve every package to its newest allowed version")
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="re-resolve only this package (repeatable)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="write the locks to DIR/<image>.txt instead of lockfiles/ (apps' horus.lock are then left as they are)",
    )
    parser.add_argument(
        "--install",
        action="store_true",
        help="lock nothing: install the (fresh) locks of IMAGE into this Python environment (for tests)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="lock nothing: fail if any lock is missing or stale, or its pylock.<image>.toml disagrees with it "
        "or does not install on its robot (for CI)",
    )
    args = parser.parse_args(argv)
    from .horus_lock import write_horus_lock

    def body() -> None:
        specs = [load_image(n) for n in args.images] if args.images else all_images()
        if args.check or args.install:
            for spec in specs:
                lock = check_lock_fresh(spec)
                pylock.check_in_sync(spec, lock)
                pylock.check_installable(spec)
                info(f"{_show(spec.lockfile)} is fresh, {pylock.pylock_path(spec).name} agrees and installs")
                if args.install:
                    install_lock(spec)
            return
        lock_images(
            specs, upgrade=args.upgrade, upgrade_packages=args.upgrade_package, lockdir=args.output_dir, driver=driver
        )
        if args.output_dir:
            return
        for app in sorted({s.app for s in specs}):
            path = write_horus_lock(app, [s for s in all_images() if s.app == app])
            info(f"wrote {_show(path)}")

    return run_cli(body)
