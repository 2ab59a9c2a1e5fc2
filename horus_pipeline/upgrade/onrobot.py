"""The robot stage of `nox -s upgrade`: new pins proven on the robots that will run them.

Per image, one simulated robot (booted at its first use, kept for every trial of the run, arm64
under qemu-user) receives the image's *committed* release and then the release built from the new
lock, both with the real `ansible/deploy.yml`, so the upgrade path itself is tested: the new
layers are shipped, the role's smoke test (importing the packages whose name is their module's)
passes before the switch, the health gate after it, nothing rolls back. Then, with the release's Python on
the robot (robotcheck.py), every top-level module of the venv imports, the app's own tests
(`apps/<app>/tests/test_*.py`) pass, and the health endpoint answers 200 for `soak` seconds with
no node errors and no restarts. A failed check raises CheckFailed with its output (for a failed
deploy, the play's end: the role prints the new release's journal, and the robot's journal).
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..bundle.build import Receive, build_bundle, diff
from ..bundle.release import read_manifest
from ..bundle.signing import release_serial
from ..console import step
from ..errors import PipelineError
from ..fleet.inventory import load_inventory
from ..fleet.status import query
from ..images import ImageSpec, load_image
from ..sim.deploy import deploy
from ..sim.fleet import Sim
from ..sim.robot import Robot
from .checks import CheckFailed, tail

ROBOTCHECK = Path(__file__).with_name("robotcheck.py")
CHECK_NAMESPACE = "upgrade-check"  # the app tests' shared memory, apart from the running services'


@dataclass
class Staged:
    """A release built from a new lock, beside the committed release of its image."""

    release: str
    receive: Receive  # what a robot on the committed release receives for it


def staged_repo(spec: ImageSpec, lockfile: Path, into: Path) -> ImageSpec:
    """The image as it would be with `lockfile` committed: its spec and that lock under `into`, the
    app where it is (linked)."""
    root = spec.path.parent.parent
    (into / "images").mkdir(parents=True)
    (into / "lockfiles").mkdir()
    shutil.copyfile(spec.path, into / "images" / spec.path.name)
    shutil.copyfile(lockfile, into / "lockfiles" / f"{spec.name}.txt")
    top = spec.app.relative_to(root).parts[0]
    if not (into / top).exists():
        (into / top).symlink_to(root / top)
    return load_image(into / "images" / spec.path.name)


class RobotStage:
    """The robots of one upgrade run (a sim of their own under `work`), stopped by close()."""

    def __init__(self, work: Path, soak: float, health_timeout: float | None = None) -> None:
        self.work, self.soak = work, soak
        self.health_timeout = health_timeout  # the role's horus_robot_health_timeout (None: its default)
        self.sim = Sim(work / "sim", owner_pid=os.getpid())
        self.bundles = work / "bundles"
        self.robots: dict[str, Robot] = {}
        self.committed: dict[str, str] = {}  # image -> its committed release id
        self.running: dict[str, str] = {}  # image -> the release its robot runs
        self.builds = 0

    def close(self) -> None:
        self.sim.stop()

    def stage(self, spec: ImageSpec, lockfile: Path) -> Staged:
        """Build the release of `lockfile` (numbered after the committed one, so it is an upgrade)."""
        committed = self._committed(spec)
        self.builds += 1
        staged_spec = staged_repo(spec, lockfile, self.work / f"staged-{self.builds}")
        serial = read_manifest(committed)["serial"] + self.builds
        with step(f"build {spec.name}'s release from its new lock"):
            result = build_bundle(staged_spec, self.bundles, serial=serial)
        _, _, receive = diff(read_manifest(committed), read_manifest(result.manifest))
        return Staged(result.release, receive)

    def check(self, spec: ImageSpec, release: str) -> str:
        """Deploy the committed release (unless the robot runs it already), then `release` over it, then
        check on the robot; a description of what passed, or CheckFailed."""
        robot = self._robot(spec)
        where = f"{spec.target.arch.debian} robot {robot.name}"
        committed = self.committed[spec.name]
        if self.running.get(spec.name) != committed:
            self._deploy(spec, robot, committed, f"{where}: deploy of the committed release {committed}")
        try:
            upgrade = f"{where}: upgrade to the new release {release} (ansible/deploy.yml: smoke test, health gate)"
            self._deploy(spec, robot, release, upgrade)
        except CheckFailed:
            self.running[spec.name] = committed  # the role went back to the last healthy release
            raise
        modules = self._on_robot(spec, robot, ["imports"], f"{where}: every locked module imports")
        checks = [f"{modules.count(': ok')} modules import"]
        tests = spec.app / "tests"
        if tests.is_dir():
            remote = ["apptests", f"{spec.layout.app_dir}/tests"]
            out = self._on_robot(spec, robot, remote, f"{where}: the app's tests ({spec.app.name}/tests)")
            checks.append(f"app tests ({out.strip().splitlines()[-1]})")
        self._soak(spec, robot, where)
        checks.append(f"health 200 for {self.soak:g}s with no node errors or restarts")
        return f"{where}: committed release -> new one with ansible/deploy.yml; " + ", ".join(checks)

    def _committed(self, spec: ImageSpec) -> Path:
        if spec.name not in self.committed:
            with step(f"build {spec.name}'s committed release"):
                result = build_bundle(spec, self.bundles, serial=release_serial(spec.path.parent))
            self.committed[spec.name] = result.release
        return self.bundles / spec.name / "releases" / f"{self.committed[spec.name]}.json"

    def _robot(self, spec: ImageSpec) -> Robot:
        if spec.name not in self.robots:
            (self.robots[spec.name],) = self.sim.boot(spec, 1)
        return self.robots[spec.name]

    def _journal(self, spec: ImageSpec, robot: Robot) -> str:
        return f"--- journal of {spec.app_name}'s units on {robot.name}:\n" + robot.journal(40, f"{spec.app_name}-*")

    def _deploy(self, spec: ImageSpec, robot: Robot, release: str, check: str) -> None:
        # The committed release may be older than what the last trial left: going back is intended.
        extra = ["horus_robot_allow_downgrade=true"]
        extra += [f"horus_robot_health_timeout={self.health_timeout:g}"] if self.health_timeout else []
        with step(f"deploy {release} to {robot.name}"):
            play = deploy(self.sim.inventory, robot.name, release, self.bundles, *extra)
        if play.returncode != 0:
            output = f"{tail(play.stdout + play.stderr, 60)}\n{self._journal(spec, robot)}"
            if release == self.committed[spec.name]:
                raise PipelineError(f"{check} failed: the committed release does not run; fix that first\n{output}")
            raise CheckFailed(check, output)
        self.running[spec.name] = release

    def _on_robot(self, spec: ImageSpec, robot: Robot, args: list[str], check: str) -> str:
        python = spec.layout.venv_python
        argv = ["runuser", "-u", spec.user, "--", "env", f"HORUS_NAMESPACE={CHECK_NAMESPACE}", python, "-I", "-"]
        with step(check):
            proc = robot.ssh(f"cd / && {shlex.join([*argv, *args])}", check=False, input=ROBOTCHECK.read_text())
        if proc.returncode != 0:
            raise CheckFailed(check, tail(proc.stdout + proc.stderr))
        return proc.stdout

    def _soak(self, spec: ImageSpec, robot: Robot, where: str) -> None:
        """Ask the robot (the fleet probe) once a second for `soak` seconds: health 200, no node
        errors, no restarts, every time."""
        check = f"{where}: health 200 for {self.soak:g}s with no node errors or restarts"
        hosts = load_inventory(self.sim.inventory, robot.name)
        deadline = time.monotonic() + self.soak
        with step(check):
            while True:
                (status,) = query(hosts)
                apps = [a for a in status.apps if a.name == spec.app_name]
                problem = status.error or ("" if apps else f"no {spec.app_name} app on the robot")
                if apps:
                    app = apps[0]
                    bad = [f"health {app.health}" if app.health != 200 else ""]
                    bad += [f"{app.errors} node error(s)" if app.errors else ""]
                    bad += [f"{app.restarts} restart(s)" if app.restarts else ""]
                    problem = ", ".join(filter(None, bad))
                if problem:
                    raise CheckFailed(check, f"{problem}\n{self._journal(spec, robot)}")
                if time.monotonic() >= deadline:
                    return
                time.sleep(1)
