"""Helpers for the deploy tests: inventories for simulated robots, ansible-playbook runs, bundles.

Everything is real: bundles built by the pipeline, ansible-playbook over SSH into robots booted
by systemd-nspawn, systemd and journald inside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from horus_testing import require, require_robot_host

from horus_pipeline import REPO
from horus_pipeline.bundle.build import build_bundle
from horus_pipeline.errors import PipelineError
from horus_pipeline.images import ImageSpec, load_image
from horus_pipeline.sim import deploy
from horus_pipeline.sim.fleet import DEPLOY_USER, Sim
from horus_pipeline.sim.robot import SSH_OPTIONS, Robot

ANSIBLE = deploy.ANSIBLE
# The image whose fresh deploy test_deploy.py checks after the other end-to-end tests, having
# started it before them (conftest.py: arm64_deploy).
ARM64_IMAGE = "demo-arm64"
_RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)"
)


def ansible_playbook() -> str:
    """The ansible-playbook of this environment (the pipeline's, which the upgrade loop runs too)."""
    try:
        return deploy.ansible_playbook()
    except PipelineError as exc:
        require(False, str(exc))
        raise


def write_inventory(path: Path, robots: list[Robot], **variables: object) -> Path:
    """An inventory of these robots, in this order (group `robots`; JSON is YAML)."""
    key = robots[0].key
    hosts = {r.name: {"ansible_host": r.address, "horus_image": r.image} for r in robots}
    group_vars = {
        "ansible_user": DEPLOY_USER,
        "ansible_become": True,
        "ansible_ssh_private_key_file": key,
        "ansible_ssh_common_args": " ".join(SSH_OPTIONS[:6]),
        "ansible_python_interpreter": "/usr/bin/python3",
        "horus_robot_allow_unsigned": True,  # as the sim's own inventory; tests of signing override it
        **variables,
    }
    path.write_text(json.dumps({"robots": {"hosts": hosts, "vars": group_vars}}, indent=1) + "\n")
    return path


@dataclass
class Run:
    """One ansible-playbook run: exit status, output, PLAY RECAP per host, seconds, bytes sent."""

    rc: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # host -> bytes the host sent to the robot

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def failed(self, host: str) -> int:
        return self.recap[host]["failed"]

    def task_output(self, header: str) -> str:
        """What the first task whose header starts with `header` printed, up to the next task."""
        return self.output.split(header, 1)[1].split("TASK [")[0] if header in self.output else ""

    def summary(self) -> dict[str, str]:
        """Each robot's state in the rollout summary deploy.yml ends with (updated, current, held, ...)."""
        section = self.task_output("TASK [Rollout summary")
        states = "updated|current|held|unreachable|failed|skipped"
        found = re.findall(rf"^\s*- '?(\S+)\s+({states})\b", section, flags=re.MULTILINE)
        return dict(found)

    def pushed(self) -> list[str]:
        """What the role said it sent one robot (its first push), as "kind name version (N MiB)" per layer,
        "(N MiB, a delta of the layer of M MiB)" for a delta; none if it lacked nothing."""
        section = self.task_output("TASK [horus_robot : Install | what this robot is sent]")
        message = " ".join(section.split("msg:", 1)[1].split()) if "msg:" in section else ""
        return [item.strip(" '\"") for item in message.split(";") if item.strip(" '\"")]


def _sent(robots: list[Robot]) -> dict[str, int]:
    """Bytes the host has sent into each robot's network namespace (its veth's tx counter)."""
    counts = {}
    for r in robots:
        path = Path(f"/sys/class/net/{r.netns}/statistics/tx_bytes")
        counts[r.name] = int(path.read_text()) if path.exists() else 0
    return counts


def playbook(
    inventory: Path,
    robots: list[Robot],
    *args: str,
    name: str = "deploy.yml",
    kill_at: str | None = None,
    kill_after: float = 1.0,
    timeout: float = 1800,
    log: Path | None = None,
    at: tuple[str, Callable[[], None]] | None = None,
    ansible_dir: Path = ANSIBLE,
) -> Run:
    """Run ansible/<name> with ansible/ansible.cfg, its output streamed to ours (pytest -s shows progress),
    or to the file `log` (a run in a thread of its own).

    kill_at: SIGKILL ansible-playbook (and its SSH children) once a task whose name holds
    this text starts, `kill_after` seconds later. at: (text, fn) calls fn() once, when a task whose
    name holds text starts.
    ansible_dir: another copy of ansible/ (the deploy benchmark runs an earlier role beside today's).
    """
    env = deploy.ansible_env()
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(inventory.parent / "cp")  # our own SSH masters
    argv = [ansible_playbook(), "-i", str(inventory), str(ansible_dir / name), *args]
    before = _sent(robots)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    lines = []
    with open(log, "w") if log else contextlib.nullcontext(sys.stdout) as out:
        for line in proc.stdout:
            lines.append(line)
            stamp = f"[{time.monotonic() - start:6.1f}s] " if line.startswith(("TASK [", "RUNNING HANDLER")) else ""
            print(stamp + line, end="", flush=True, file=out)
            if at and line.startswith("TASK [") and at[0] in line:
                at[1]()
                at = None
            if kill_at and line.startswith("TASK [") and kill_at in line:
                time.sleep(kill_after)  # let it begin
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    rc = proc.wait()
    output = "".join(lines)
    run = Run(rc, output, time.monotonic() - start)
    after = _sent(robots)
    run.sent = {name: after[name] - before[name] for name in after}
    for line in lines:
        m = _RECAP.match(line)
        if m:
            keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued")
            run.recap[m.group(1)] = dict(zip(keys, map(int, m.groups()[1:]), strict=True))
    return run


def copy_image(name: str, into: Path) -> Path:
    """A repository of one image (its spec, lock and app) under `into`; returns the app directory."""
    spec = load_image(name)
    (into / "images").mkdir(parents=True, exist_ok=True)
    (into / "lockfiles").mkdir(exist_ok=True)
    shutil.copy2(spec.path, into / "images" / spec.path.name)
    shutil.copy2(spec.lockfile, into / "lockfiles" / spec.lockfile.name)
    app = into / spec.app.relative_to(REPO)
    shutil.copytree(spec.app, app, ignore=shutil.ignore_patterns("__pycache__", ".horus"))
    return app


def bundle(repo: Path, image: str, out: Path, sign_key: Path | None = None, serial: int | None = None) -> str:
    """Build `image` of `repo` (a copy_image tree) into out/<image>/; return the release id."""
    result = build_bundle(load_image(repo / "images" / f"{image}.toml"), out, sign_key=sign_key, serial=serial)
    return result.release


@dataclass
class Deploy:
    """A robot of an image and the fresh deploy of its bundle, whose ansible-playbook runs in a
    thread of its own (its output goes to `log`; `run.result()` waits for it)."""

    spec: ImageSpec
    sim: Sim
    robot: Robot
    inventory: Path
    release: str
    bundle: Path  # <bundles>/<image>: layers/, releases/
    log: Path
    run: Future[Run]


def start_deploy(sim: Sim, image: str, tmp: Path) -> Deploy:
    """Bundle `image` (a copy_image tree under tmp), boot a robot of it in `sim`, and start deploying
    the bundle to it in a thread. Stopping the robot ends a deploy still running (SSH fails)."""
    spec = load_image(image)
    require_robot_host(spec.target.arch.name)
    copy_image(image, tmp / "repo")
    release = bundle(tmp / "repo", image, tmp / "bundles")
    (robot,) = sim.boot(spec, 1)
    inventory = write_inventory(tmp / "inventory.yml", [robot], horus_robot_bundles_dir=str(tmp / "bundles"))
    log = tmp / "deploy.log"
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"deploy-{image}")
    run = pool.submit(playbook, inventory, [robot], "-e", f"release={release}", log=log)
    pool.shutdown(wait=False)  # the thread ends with the playbook
    return Deploy(spec, sim, robot, inventory, release, tmp / "bundles" / image, log, run)


def dump_units(robot: Robot, app: str) -> str:
    """The state and journal of the app's units, for a failed test's output."""
    status = robot.enter(["systemctl", "--no-pager", "status", f"{app}.target", f"{app}-*.service"]).stdout
    journal = robot.enter(["journalctl", "--no-pager", "-n", "80", "-u", f"{app}-*.service"]).stdout
    return f"--- units of {app} on {robot.name}:\n{status}\n--- their journal:\n{journal}"


def health(robot: Robot, port: int = 8080) -> int:
    """The HTTP status of the robot's health endpoint, asked on the robot (0: no answer)."""
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        f"    print(urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=5).status)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
        "except OSError:\n"
        "    print(0)\n"
    )
    out = robot.ssh(["python3", "-c", code], check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def wait_health(robot: Robot, timeout: float = 60, port: int = 8080) -> int:
    deadline = time.monotonic() + timeout
    status = health(robot, port)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(1)
        status = health(robot, port)
    return status


def current_release(robot: Robot, prefix: str) -> str:
    return robot.ssh(f"readlink {prefix}/current", check=False).stdout.strip().rsplit("/", 1)[-1]
