"""`nox -s upgrade`: move pins forward only when the tests pass with them.

1. Re-lock every image (or the named ones) into a staging directory, with `--upgrade` (or
   `--upgrade-package NAME` for each `--package`), seeded from the committed locks.
2. Build against the new locks: every image's bundle layers (each new pin's wheel for the
   image's CPU, hash-checked, installed into its layer; `horus_pipeline.bundle.build`) and the host's
   horus_core wheel. Then install each new lock this machine can run into a fresh directory
   and run the tests against it.
3. All green: replace lockfiles/<image>.txt and horus.lock, and write a Markdown summary
   (package, old, new, per image) for the pull request. Anything red: print it, exit non-zero,
   and leave every committed file byte for byte as it was.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO
from .console import info, run_cli, step
from .determinism import publishing
from .errors import PipelineError
from .images import ImageSpec, all_images, load_image
from .lock.compile import install_lock, lock_images
from .lock.horus_lock import write_horus_lock
from .lock.lockfile import Lock, read_lock
from .proc import run

DEFAULT_TESTS = ("tests/demo",)
DEFAULT_SUMMARY = REPO / "dist" / "upgrade" / "summary.md"


class UpgradeFailed(PipelineError):
    """The new pins did not pass; the committed locks are untouched."""


@dataclass
class Plan:
    """What one run does: which images, what to upgrade, how to test."""

    specs: list[ImageSpec]
    packages: list[str] = field(default_factory=list)  # empty: everything
    tests: list[str] = field(default_factory=lambda: list(DEFAULT_TESTS))  # pytest arguments
    build: bool = True  # build every image's layers and the host's horus_core wheel
    summary: Path = DEFAULT_SUMMARY


def diff_pins(old: Mapping[str, str], new: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(package, old, new) for every pin that changed, appeared ("" old) or went away ("" new)."""
    return [
        (name, old.get(name, ""), new.get(name, ""))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def render_summary(changes: Mapping[str, list[tuple[str, str, str]]], plan: Plan) -> str:
    what = ", ".join(plan.packages) if plan.packages else "every package"
    lines = ["# Pin upgrade", "", f"Re-locked {what}; tests passed: `pytest {shlex.join(plan.tests)}`.", ""]
    if not any(changes.values()):
        return "\n".join([*lines, "No pin changed.", ""])
    for image, rows in changes.items():
        lines += [f"## {image}", ""]
        if not rows:
            lines += ["No pin changed.", ""]
            continue
        lines += ["| package | old | new |", "|---|---|---|"]
        lines += [f"| {name} | {old or '(new)'} | {new or '(removed)'} |" for name, old, new in rows]
        lines.append("")
    return "\n".join(lines)


def run_tests(spec: ImageSpec, lockfile: Path, plan: Plan, work: Path, core_wheel: Path | None) -> None:
    """Install the new lock (and horus_core) into a fresh directory and run the tests against it."""
    site = work / f"site-{spec.name}"
    install_lock(spec, lockfile, target_dir=site)
    if core_wheel is not None:
        run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--target", site, core_wheel],
            what="install horus_core",
        )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plan.tests]
    with step(f"test {spec.name}'s new lock: pytest {shlex.join(plan.tests)}"):
        proc = subprocess.run(argv, cwd=spec.path.parent.parent, env=env, check=False)
    if proc.returncode != 0:
        raise UpgradeFailed(f"tests failed against the new lock of {spec.name} (pytest exit {proc.returncode})")


def build_core() -> Path:
    """The build step that exists today: the host's horus_core wheel (`nox -s core -- --host`)."""
    from .core import wheel_for
    from .targets import get_arch

    with step("build horus_core for this machine"):
        run([sys.executable, "-m", "horus_pipeline.core", "--host"], what="nox -s core -- --host")
    return wheel_for(get_arch(platform.machine()))


def build_layers_for(specs: Sequence[ImageSpec], locks: Mapping[str, Lock]) -> None:
    """The bundle step's layers for each new lock: every pin has a wheel for its robot, and it installs."""
    from .bundle.build import build_layers

    for spec in specs:
        with step(f"build {spec.name}'s layers from its new lock"):
            build_layers(spec, locks[spec.name])


def upgrade(plan: Plan) -> dict[str, list[tuple[str, str, str]]]:
    """Run the loop; return the changes per image. Raises (committed files untouched) on any failure."""
    host = platform.machine()
    with tempfile.TemporaryDirectory(prefix="horus-upgrade-") as tmp:
        work = Path(tmp)
        locks = lock_images(plan.specs, upgrade=not plan.packages, upgrade_packages=plan.packages, lockdir=work)
        staged: dict[str, Lock] = {spec.name: lock for spec, lock in zip(plan.specs, locks, strict=True)}
        changes = {
            spec.name: diff_pins(
                read_lock(spec.lockfile).versions() if spec.lockfile.is_file() else {},
                staged[spec.name].versions(),
            )
            for spec in plan.specs
        }
        runnable = [s for s in plan.specs if s.target.arch.name == host]
        if not runnable:
            raise UpgradeFailed(f"no image runs on this {host} machine: nothing can test the new locks")
        core_wheel = None
        if plan.build:
            build_layers_for(plan.specs, staged)
            core_wheel = build_core()
        for spec in runnable:
            run_tests(spec, work / f"{spec.name}.txt", plan, work, core_wheel)
        for spec in plan.specs:
            if spec.target.arch.name != host:
                info(f"{spec.name}: locked, but not tested: this {host} machine cannot run {spec.target.arch.name}")
        # Everything passed: publish. Each file is replaced atomically.
        for spec in plan.specs:
            with publishing(spec.lockfile) as tmp_out:
                shutil.copyfile(work / f"{spec.name}.txt", tmp_out)
        for app in sorted({s.app for s in plan.specs}):
            write_horus_lock(app, [s for s in all_images(plan.specs[0].path.parent) if s.app == app])
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s upgrade",
        description="Re-lock every image with newer versions, build and test against the new locks, and "
        "write them (with a Markdown summary for the pull request) only if every test passes. "
        "On failure the committed lockfiles are left untouched and the exit status is non-zero.",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="images to upgrade (default: all in images/)")
    parser.add_argument(
        "--package", action="append", default=[], metavar="NAME", help="upgrade only this package (repeatable)"
    )
    parser.add_argument(
        "--tests", default=" ".join(DEFAULT_TESTS), help="pytest arguments to run against the new locks"
    )
    parser.add_argument("--summary", type=Path, default=DEFAULT_SUMMARY, help="where to write the Markdown summary")
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="build neither bundle layers nor horus_core: only for tests that need neither",
    )
    args = parser.parse_args(argv)

    def body() -> None:
        specs = [load_image(n) for n in args.images] if args.images else all_images()
        plan = Plan(
            specs=specs,
            packages=args.package,
            tests=shlex.split(args.tests),
            build=not args.no_build,
            summary=args.summary,
        )
        text = render_summary(upgrade(plan), plan)
        plan.summary.parent.mkdir(parents=True, exist_ok=True)
        plan.summary.write_text(text, encoding="utf-8")
        print(text)
        info(f"wrote the new locks and {plan.summary}")

    return run_cli(body, after_error="The committed lockfiles are unchanged.")


if __name__ == "__main__":
    raise SystemExit(main())
