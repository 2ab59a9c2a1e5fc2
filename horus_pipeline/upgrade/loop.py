"""`nox -s upgrade`: move pins forward only when the tests pass with them; keep every safe one.

1. Re-lock every image (or the named ones) into a staging directory, with `--upgrade` (or
   `--upgrade-package NAME` for each `--package`), seeded from the committed locks.
2. Build against the new locks: every image's bundle layers (each new pin's wheel for the
   image's CPU, hash-checked, installed into its layer; `horus_pipeline.bundle.build`) and the host's
   horus_core wheel. Then install each new lock this machine can run into a fresh directory
   and run the tests against it, and prove each changed image on a simulated robot of its own
   (onrobot.py: the committed release, then the new one, deployed with ansible/deploy.yml, and
   checked there; `--no-robots` skips this).
3. If that fails, find the culprits (culprits.py: dependency-closed groups, bisected), and try
   the upgrade without them; that subset must pass as a whole (`--no-bisect`: all or nothing).
4. Whatever passed: replace lockfiles/<image>.txt and horus.lock, and write the summary
   (report.py: Markdown for the pull request, JSON beside it). Nothing passed: exit non-zero and
   leave every committed file byte for byte as it was.
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

from .. import REPO
from ..bundle.build import Receive
from ..console import Stages, info, run_cli, step
from ..determinism import publishing, write_atomic
from ..errors import PipelineError
from ..images import ImageSpec, all_images, load_image
from ..lock.compile import install_lock, lock_images
from ..lock.horus_lock import write_horus_lock
from ..lock.lockfile import Lock, read_lock
from ..proc import run
from .audit import audit_pylocks
from .checks import CheckFailed, tail
from .culprits import Group, changed_names, find_culprits, groups
from .metadata import best_link, index_url, json_api, vulnerabilities, wheel_links
from .onrobot import RobotStage
from .report import Change, HeldBack, Outcome, render_json, render_markdown, wanted_versions

DEFAULT_TESTS = ("tests/demo",)
DEFAULT_SUMMARY = REPO / "dist" / "upgrade" / "summary.md"
DEFAULT_SOAK = 10.0


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
    bisect: bool = True  # on failure, find the culprits and keep the rest
    robots: bool = True  # deploy each changed image to a simulated robot of it and check it there
    soak: float = DEFAULT_SOAK  # seconds of health 200 each robot must show
    health_timeout: float | None = None  # the deploy's health gate (None: the role's default)


def diff_pins(old: Mapping[str, str], new: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(package, old, new) for every pin that changed, appeared ("" old) or went away ("" new)."""
    return [
        (name, old.get(name, ""), new.get(name, ""))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def run_tests(spec: ImageSpec, lockfile: Path, plan: Plan, work: Path, core_wheel: Path | None) -> str:
    """Install the new lock (and horus_core) into a fresh directory and run the tests against it;
    the check's description, or CheckFailed with pytest's last lines."""
    site = work / f"site-{spec.name}"
    install_lock(spec, lockfile, target_dir=site)
    if core_wheel is not None:
        run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--target", site, core_wheel],
            what="install horus_core",
        )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plan.tests]
    check = f"host ({platform.machine()}): pytest {shlex.join(plan.tests)} against {spec.name}'s new lock"
    with step(f"test {spec.name}'s new lock: pytest {shlex.join(plan.tests)}"):
        proc = subprocess.run(argv, cwd=spec.path.parent.parent, env=env, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, end="", file=sys.stderr)
        raise CheckFailed(check, tail(proc.stdout + proc.stderr))
    return check


def build_core() -> Path:
    """The build step that exists today: the host's horus_core wheel (`nox -s core -- --host`)."""
    from ..core import wheel_for
    from ..targets import get_arch

    with step("build horus_core for this machine"):
        run([sys.executable, "-m", "horus_pipeline.core", "--host"], what="nox -s core -- --host")
    return wheel_for(get_arch(platform.machine()))


def build_layers_for(specs: Sequence[ImageSpec], locks: Mapping[str, Lock]) -> None:
    """The bundle step's layers for each new lock: every pin has a wheel for its robot, and it installs."""
    from ..bundle.build import build_layers

    for spec in specs:
        with step(f"build {spec.name}'s layers from its new lock"):
            try:
                build_layers(spec, locks[spec.name])
            except PipelineError as exc:
                raise CheckFailed(f"build {spec.name}'s layers", str(exc)) from None


@dataclass
class Trial:
    """One attempt: the locks with some packages upgraded, and what became of them."""

    lockdir: Path
    locks: dict[str, Lock]
    changes: dict[str, list[Change]]
    checks: list[str] = field(default_factory=list)
    failure: CheckFailed | None = None
    receive: dict[str, Receive] = field(default_factory=dict)  # image -> what a robot on the committed release gets


class Runner:
    """Runs trials in one staging directory: each locks afresh from the committed locks."""

    def __init__(self, plan: Plan, work: Path) -> None:
        self.plan, self.work, self.count = plan, work, 0
        self.core_wheel: Path | None = None
        self.runnable = [s for s in plan.specs if s.target.arch.name == platform.machine()]
        if not self.runnable and not plan.robots:
            raise UpgradeFailed(
                f"no image runs on this {platform.machine()} machine and --no-robots was given: "
                "nothing can test the new locks (drop --no-robots)"
            )
        self.robots = RobotStage(work, plan.soak, plan.health_timeout) if plan.robots else None
        self.tried: dict[tuple[str, ...] | None, Trial] = {}  # packages upgraded -> the trial that did
        self.timed = Stages()  # seconds spent in each stage, over every trial

    def close(self) -> None:
        if self.robots is not None:
            self.robots.close()

    def trial(self, packages: Sequence[str] | None) -> Trial:
        """Lock with `packages` upgraded (None: as the plan says), build and test; a set of packages
        tried before is not tried again (the kept subset is often one the bisection passed)."""
        key = None if packages is None else tuple(sorted(packages))
        if key not in self.tried:
            self.tried[key] = self._run(packages)
        return self.tried[key]

    def _run(self, packages: Sequence[str] | None) -> Trial:
        self.count += 1
        lockdir = self.work / f"trial-{self.count}"
        lockdir.mkdir()
        plan = self.plan
        names = plan.packages if packages is None else list(packages)
        everything = packages is None and not plan.packages
        with self.timed("lock"):
            upgrade_packages = [] if everything else names
            locks = lock_images(plan.specs, upgrade=everything, upgrade_packages=upgrade_packages, lockdir=lockdir)
        staged = {spec.name: lock for spec, lock in zip(plan.specs, locks, strict=True)}
        committed = {s.name: read_lock(s.lockfile).versions() if s.lockfile.is_file() else {} for s in plan.specs}
        changes = {s.name: diff_pins(committed[s.name], staged[s.name].versions()) for s in plan.specs}
        trial = Trial(lockdir, staged, changes)
        try:
            if plan.build:
                with self.timed("build"):
                    build_layers_for(plan.specs, staged)
                    if self.core_wheel is None:
                        self.core_wheel = build_core()
            with self.timed("host tests"):
                for spec in self.runnable:
                    trial.checks.append(run_tests(spec, lockdir / f"{spec.name}.txt", plan, lockdir, self.core_wheel))
            with self.timed("robots"):
                self.on_robots(trial)
        except CheckFailed as failed:
            trial.failure = failed
        return trial

    def on_robots(self, trial: Trial) -> None:
        """Every image whose pins changed, on a robot of its own; this machine's CPU first (quicker)."""
        if self.robots is None:
            return
        changed = [s for s in self.plan.specs if trial.changes[s.name]]
        for spec in sorted(changed, key=lambda s: s.target.arch.name != platform.machine()):
            try:
                staged = self.robots.stage(spec, trial.lockdir / f"{spec.name}.txt")
            except PipelineError as exc:
                raise CheckFailed(f"build {spec.name}'s release from its new lock", str(exc)) from None
            trial.receive[spec.name] = staged.receive
            trial.checks.append(self.robots.check(spec, staged.release))


def _held_back(culprits: Mapping[Group, str], full: Trial) -> list[HeldBack]:
    held = []
    for group, failure in culprits.items():
        check, _, output = failure.partition("\n")
        held.append(HeldBack(group.names, wanted_versions(full.changes, group.names), check, output))
    return held


def _describe(failure: CheckFailed) -> str:
    return f"{failure.check}\n{failure.output}"


def choose(runner: Runner) -> tuple[Trial, list[HeldBack]]:
    """The trial to publish and what was held back; UpgradeFailed when nothing can be kept."""
    full = runner.trial(None)
    if full.failure is None:
        return full, []
    changed = changed_names(full.changes)
    if not runner.plan.bisect or not changed:
        raise UpgradeFailed(f"{full.failure.check} failed:\n{full.failure.output}")
    candidates = groups(changed, full.locks.values())
    info(f"the upgrade fails; looking for the culprits among {len(candidates)} group(s) of changed packages")

    def attempt(subset: Sequence[Group]) -> str | None:
        if list(subset) == candidates:
            return _describe(full.failure) if full.failure else None
        done = runner.trial([n for g in subset for n in g.names])
        return _describe(done.failure) if done.failure else None

    culprits = find_culprits(candidates, attempt)
    held = _held_back(culprits, full)
    keep = [n for g in candidates if g not in culprits for n in g.names]
    for h in held:
        info(f"held back {' + '.join(h.packages)}: {h.check}")
    if not keep:
        raise UpgradeFailed(
            "every changed package fails the checks on its own: "
            + "; ".join(f"{' + '.join(h.packages)} ({h.check})" for h in held)
        )
    final = runner.trial(keep)
    if final.failure is not None:
        raise UpgradeFailed(
            f"the upgrades that pass one by one fail together ({final.failure.check}):\n{final.failure.output}"
        )
    return final, held


def publish(plan: Plan, trial: Trial) -> None:
    """Replace the committed locks (each atomically) and every app's horus.lock."""
    for spec in plan.specs:
        with publishing(spec.lockfile) as tmp_out:
            shutil.copyfile(trial.lockdir / f"{spec.name}.txt", tmp_out)
    for app in sorted({s.app for s in plan.specs}):
        write_horus_lock(app, [s for s in all_images(plan.specs[0].path.parent) if s.app == app])


def upgrade(plan: Plan) -> Outcome:
    """Run the loop; return what was kept and held back. Raises (committed files untouched) when
    nothing passes."""
    with tempfile.TemporaryDirectory(prefix="horus-upgrade-") as tmp:
        runner = Runner(plan, Path(tmp))
        try:
            chosen, held = choose(runner)
        finally:
            runner.close()
        if not plan.robots:
            for spec in plan.specs:
                if spec not in runner.runnable:
                    info(f"{spec.name}: locked, not tested (--no-robots; this machine is no {spec.target.arch.name})")
        links = release_links(plan, [chosen, runner.tried[None]])
        publish(plan, chosen)
    seconds = {stage: round(t, 1) for stage, t in runner.timed.seconds.items()}
    return Outcome(chosen.changes, held, chosen.checks, runner.count, chosen.receive, links, seconds=seconds)


def release_links(plan: Plan, trials: Sequence[Trial]) -> dict[str, tuple[str, str]]:
    """For each new version the trials wanted, its changelog or release page ("name==version" ->
    (label, url)), from its wheel (in the cache since the build, else fetched)."""
    from ..bundle.wheels import ensure_wheels

    found: dict[str, tuple[str, str]] = {}
    for trial in trials:
        for spec in plan.specs:
            lock = trial.locks[spec.name]
            pins = [lock.pins[n] for n, _, new in trial.changes[spec.name] if new and f"{n}=={new}" not in found]
            for name, wheel in ensure_wheels(spec, pins).items() if pins else ():
                link = best_link(wheel_links(wheel.path))
                if link:
                    found[f"{name}=={wheel.pin.version}"] = link
    return found


def security_fixes(specs: Sequence[ImageSpec]) -> dict[str, list[str]]:
    """The committed pins with known vulnerabilities: package -> advisory ids. pip-audit reads the images'
    PEP 751 locks first; the index's JSON API is asked about the pins pip-audit could not look up."""
    with step(f"pip-audit the PEP 751 locks of {', '.join(spec.name for spec in specs)}"):
        audit = audit_pylocks(specs)
    found = dict(audit.advisories)
    locked = {pin for spec in specs for pin in read_lock(spec.lockfile).versions().items()}
    pins = sorted(pin for pin in locked if pin[0] in audit.unknown)
    if not pins:
        return found
    index = index_url()
    with step(f"ask {json_api(index)} which of {len(pins)} locked versions pip-audit could not look up are vulnerable"):
        for name, version in pins:
            ids = vulnerabilities(name, version, index)
            if ids:
                found[name] = sorted(set(found.get(name, [])) | set(ids))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s upgrade",
        description="Re-lock every image with newer versions, build and test against the new locks, and "
        "write them (with a Markdown and JSON summary for the pull request) when the tests pass. When they "
        "fail, find the packages that break them (bisecting over groups that must move together), hold those "
        "back with the failing check's output, and write the rest if it passes as a whole. When nothing "
        "passes, the committed lockfiles are left untouched and the exit status is non-zero.",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="images to upgrade (default: all in images/)")
    parser.add_argument(
        "--image", action="append", default=[], metavar="NAME", help="upgrade only this image (repeatable)"
    )
    parser.add_argument(
        "--package", action="append", default=[], metavar="NAME", help="upgrade only this package (repeatable)"
    )
    parser.add_argument(
        "--tests", default=" ".join(DEFAULT_TESTS), help="pytest arguments to run against the new locks"
    )
    parser.add_argument(
        "--summary", type=Path, default=DEFAULT_SUMMARY,
        help="where to write the Markdown summary (the JSON one goes beside it, .json)",
    )  # fmt: skip
    parser.add_argument(
        "--no-bisect", action="store_true", help="all or nothing: on a failure, keep no new pin and look no further"
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="build neither bundle layers nor horus_core: only for tests that need neither",
    )
    parser.add_argument(
        "--no-robots",
        action="store_true",
        help="skip the robot stage (deploy to a simulated robot of each changed image, check there): quicker, "
        "for a local try; images of another CPU than this machine's are then locked but not tested",
    )
    parser.add_argument(
        "--soak", type=float, default=DEFAULT_SOAK, metavar="SECONDS",
        help=f"how long each robot must answer health 200 with no node errors or restarts (default {DEFAULT_SOAK:g})",
    )  # fmt: skip
    parser.add_argument(
        "--health-timeout", type=float, metavar="SECONDS",
        help="how long each deploy waits for the robot's health endpoint before it rolls back "
        "(default: the role's horus_robot_health_timeout)",
    )  # fmt: skip
    parser.add_argument(
        "--only-security",
        action="store_true",
        help="upgrade only the locked packages the index lists known vulnerabilities for (PyPI's JSON API; "
        "an index without vulnerability data is an error that says so)",
    )
    args = parser.parse_args(argv)

    def body() -> None:
        names = [*args.images, *args.image]
        specs = [load_image(n) for n in names] if names else all_images()
        advisories = security_fixes(specs) if args.only_security else {}
        if args.only_security:
            args.package = sorted(n for n in advisories if not args.package or n in args.package)
            if not args.package:
                info("no locked package has a known vulnerability the upgrade may fix: nothing to do")
                return
        plan = Plan(
            specs=specs,
            packages=args.package,
            tests=shlex.split(args.tests),
            build=not args.no_build,
            summary=args.summary,
            bisect=not args.no_bisect,
            robots=not args.no_robots,
            soak=args.soak,
            health_timeout=args.health_timeout,
        )
        outcome = upgrade(plan)
        outcome.advisories = {n: ids for n, ids in advisories.items() if n in plan.packages}
        text = render_markdown(outcome, plan.packages, plan.tests)
        plan.summary.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(plan.summary, text.encode())
        write_atomic(plan.summary.with_suffix(".json"), render_json(outcome).encode())
        print(text)
        info(f"wrote the new locks, {plan.summary} and {plan.summary.with_suffix('.json')} ({outcome.trials} trials)")

    return run_cli(body, after_error="The committed lockfiles are unchanged.")
