"""Simulated robots behave like robots: booted systemd, SSH, Ansible, one network each, no leaks."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline import REPO
from horus_pipeline.errors import PipelineError
from horus_pipeline.images import load_image
from horus_pipeline.proc import CommandError
from horus_pipeline.sim import netns
from horus_pipeline.sim.fleet import Sim, reap_orphans
from horus_pipeline.sim.robot import Robot
from horus_pipeline.sim.rootfs import ensure_rootfs, rootfs_record, run_in_rootfs, tree_digest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BootRobots = Callable[..., list[Robot]]  # the boot_robots fixture (conftest.py)


def ansible_setup(inventory: Path, pattern: str = "robots") -> dict[str, dict[str, object]]:
    """`ansible -i INVENTORY PATTERN -m setup`: each host's facts; fails the test if one did not answer."""
    ansible = shutil.which("ansible") or str(Path(sys.executable).parent / "ansible")
    require(Path(ansible).exists(), "ansible is not installed: pip install -r lockfiles/tools.txt")
    proc = subprocess.run(
        [ansible, "-i", str(inventory), pattern, "-m", "setup"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts: dict[str, dict[str, object]] = {}
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^(\S+) \| (\w+) => ", proc.stdout, re.M):
        assert match.group(2) == "SUCCESS", proc.stdout
        result, _ = decoder.raw_decode(proc.stdout, match.end())
        facts[match.group(1)] = result["ansible_facts"]
    return facts


def host_state(sim: Sim) -> dict[str, list[str]]:
    return {"netns": netns.namespaces(), "links": netns.interfaces(), "leftovers": sim.leftovers()}


def test_fleet_of_five_amd64_robots(sim: Sim, boot_robots: BootRobots, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    robots = boot_robots("demo-amd64", count=5)
    fleet_seconds = time.monotonic() - started

    # Ansible reaches every robot over SSH through the inventory the sim wrote.
    facts = ansible_setup(sim.inventory, ":".join(r.name for r in robots))  # the session may have more
    assert sorted(facts) == sorted(r.name for r in robots)
    for robot in robots:
        f = facts[robot.name]
        assert f["ansible_architecture"] == "x86_64"
        assert f["ansible_hostname"] == robot.name
        assert f["ansible_service_mgr"] == "systemd"
        assert f["ansible_python"]["version"]["major"] == 3  # type: ignore[index]
    assert len({f["ansible_machine_id"] for f in facts.values()}) == 5, "each robot has its own machine id"

    # By name too, as the README shows (ssh -F dist/sim/ssh_config ROBOT), and Ansible's account
    # is not root: it becomes root through sudo.
    for robot in robots:
        by_name = ["ssh", "-F", str(sim.ssh_config), "-o", "BatchMode=yes", robot.name, "hostname"]
        assert subprocess.run(by_name, capture_output=True, text=True, timeout=60).stdout.strip() == robot.name
        f = facts[robot.name]
        assert f["ansible_user_id"] == "root" and f["ansible_env"]["SUDO_USER"] == "deploy"  # type: ignore[index]

    # Booted for real: systemd is PID 1 and running, journald records, sshd took our key.
    for robot in robots:
        out = robot.ssh("systemctl is-system-running; ps -o comm= -p 1; journalctl -b -q -n 1 -o cat | wc -l")
        assert out.stdout.split() == ["running", "systemd", "1"]

    # Each robot has its own loopback: a service on 127.0.0.1:8080 of one is not on another's.
    first, second = robots[0], robots[1]
    first.ssh("systemd-run --unit=probe python3 -m http.server 8080 --bind 127.0.0.1 --directory /etc")
    fetch = "python3 -c 'import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:8080/hostname\").read())'"
    for _ in range(50):
        if first.ssh(fetch, check=False).returncode == 0:
            break
        time.sleep(0.2)
    assert first.name in first.ssh(fetch).stdout
    assert "Connection refused" in second.ssh(fetch, check=False).stderr

    with capsys.disabled():
        print(f"\n[fleet] 5 amd64 robots booted and answering SSH in {fleet_seconds:.1f}s")
        for robot in robots:
            mem, procs = robot.memory()
            print(
                f"[fleet] {robot.name}: running after {robot.boot_seconds}s, SSH after {robot.ssh_seconds}s, "
                f"{mem / 2**20:.0f} MiB PSS in {procs} processes"
            )
    for robot in robots:
        mem, _ = robot.memory()
        assert 0 < mem < 256 * 2**20


def test_arm64_robot_runs_aarch64_python_under_qemu(
    sim: Sim, boot_robots: BootRobots, capsys: pytest.CaptureFixture[str]
) -> None:
    (robot,) = boot_robots("demo-arm64")
    out = robot.ssh("uname -m; python3 -c 'import platform, sys; print(platform.machine(), sys.version[:4])'")
    assert out.stdout.split() == ["aarch64", "aarch64", "3.11"]
    # python3-venv is there: releases are venvs on the robot's own interpreter.
    robot.ssh("python3 -m venv /opt/v && /opt/v/bin/python -c 'import sys; assert sys.prefix == \"/opt/v\"'")
    assert robot.ssh("systemctl is-system-running").stdout.strip() == "running"
    facts = ansible_setup(sim.inventory, robot.name)
    assert facts[robot.name]["ansible_architecture"] == "aarch64"
    mem, procs = robot.memory()
    with capsys.disabled():
        print(
            f"\n[arm64] {robot.name}: running after {robot.boot_seconds}s, SSH after {robot.ssh_seconds}s, "
            f"{mem / 2**20:.0f} MiB PSS in {procs} processes"
        )


def test_run_in_arm64_rootfs_without_booting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(os.geteuid() == 0, "running a command in a rootfs needs root (systemd-nspawn)")
    image = load_image("demo-arm64")
    root = ensure_rootfs(image)
    assert (root.parent / "packages.txt").read_text().count("\tarm64\n") > 50
    assert rootfs_record(root)["digest"] == tree_digest(root)[0]
    monkeypatch.setenv("PIP_INDEX_URL", "http://leaked.invalid/simple")
    work = tmp_path / "work"
    work.mkdir()
    script = "import os, platform; print(platform.machine(), sorted(k for k in os.environ if k.startswith('PIP')))"
    proc = run_in_rootfs(
        root,
        ["sh", "-c", f'python3 -c "{script}" && echo made > /work/out && touch /etc/scratch'],
        binds=[(work, "/work")],
        volatile=True,
    )
    assert proc.stdout.decode().split("\n")[0] == "aarch64 []"
    assert (work / "out").read_text() == "made\n"  # binds reach the host
    assert not (root / "etc/scratch").exists()  # volatile: the cached base is untouched
    assert rootfs_record(root)["digest"] == tree_digest(root)[0]
    with pytest.raises(CommandError, match="No module named 'nope'"):
        run_in_rootfs(root, ["python3", "-c", "import nope"], volatile=True)


def test_stop_and_failed_boot_leave_nothing(sim: Sim, boot_robots: BootRobots) -> None:
    (robot,) = sim.boot(load_image("demo-amd64"), 1)
    assert robot.netns in netns.namespaces() and robot.netns in netns.interfaces()
    assert sim.leftovers([robot]) != []  # the check sees a running robot's parts...
    sim.stop([robot])
    assert sim.leftovers([robot]) == []  # ...and none once it is stopped
    assert not Path(robot.dir).exists()

    claimed: list[Robot] = []

    def break_sshd(root: Path) -> None:
        claimed.extend(r for r in sim.robots() if r.root == root)
        (root / "etc/ssh/sshd_config.d/broken.conf").write_text("NoSuchOption yes\n")

    with pytest.raises(PipelineError, match=r"(?s)did not boot: .*systemd says 'degraded'.*ssh\.service"):
        boot_robots("demo-amd64", customize=break_sshd)
    assert len(claimed) == 1
    assert sim.leftovers(claimed) == []

    # nspawn killed: the robot's systemd goes on running, orphaned; stopping still removes it all.
    (robot,) = sim.boot(load_image("demo-amd64"), 1)
    assert robot.nspawn_pid is not None
    os.kill(robot.nspawn_pid, signal.SIGKILL)
    time.sleep(0.5)
    assert robot.ssh("systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded")
    sim.stop([robot])
    assert sim.leftovers([robot]) == []


SUBRUN_TEST = """
import dataclasses, json, os, signal
from pathlib import Path

def note(robot):
    Path(os.environ["ROBOTS_NOTED"], robot.netns).write_text(json.dumps(dataclasses.asdict(robot)))

def test_boots_then_fails(boot_robots):
    (robot,) = boot_robots("demo-amd64")
    note(robot)
    assert robot.ssh("true").returncode == 0
    assert False, "failing on purpose with a robot running"

def test_boots_then_is_killed(boot_robots):
    (robot,) = boot_robots("demo-amd64")
    note(robot)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_failed_or_killed_test_run_leaves_nothing(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "simulated robots need root")
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sub.py").write_text(textwrap.dedent(SUBRUN_TEST))
    noted = tmp_path / "noted"
    noted.mkdir()
    paths = [str(Path(__file__).parent), str(REPO / "tests"), str(REPO)]  # the conftest's helpers, then ours
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "ROBOTS_NOTED": str(noted)}
    base = tmp_path / "run"
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull,
            f"--basetemp={base}"]  # fmt: skip

    def run_test(name: str) -> tuple[subprocess.CompletedProcess[str], Robot]:
        for old in noted.iterdir():
            old.unlink()
        proc = subprocess.run([*argv, f"test_sub.py::{name}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        (robot_json,) = noted.iterdir()
        return proc, Robot(**json.loads(robot_json.read_text()))

    failed, robot = run_test("test_boots_then_fails")
    assert "1 failed" in failed.stdout, failed.stdout + failed.stderr
    assert f"--- journal of {robot.name}" in failed.stdout  # the failure report shows the robot's journal
    assert Sim(Path(robot.sim_dir)).leftovers([robot]) == []

    killed, robot = run_test("test_boots_then_is_killed")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert Sim(Path(robot.sim_dir)).leftovers([robot]) != []  # the killed run could not clean up...
    assert robot.name in reap_orphans()  # ...the next run (or `nox -s sim -- --stop`) does
    assert Sim(Path(robot.sim_dir)).leftovers([robot]) == []


def test_rootfs_build_is_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(os.geteuid() == 0, "building a rootfs needs root (mmdebstrap)")
    image = load_image("demo-amd64")
    cached = ensure_rootfs(image)
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "cache"))
    fresh = ensure_rootfs(image)
    assert fresh != cached and fresh.parent.name == cached.parent.name  # same inputs, same key
    if (fresh.parent / "packages.txt").read_text() != (cached.parent / "packages.txt").read_text():
        # The mirror moved on since the cached build: compare two builds made now instead.
        monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "cache2"))
        cached = ensure_rootfs(image)
    assert rootfs_record(fresh)["digest"] == rootfs_record(cached)["digest"]
    assert not list((fresh / "etc/ssh").glob("ssh_host_*")), "no host key is baked into the base"
