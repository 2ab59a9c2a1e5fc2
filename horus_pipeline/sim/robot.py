"""One simulated robot as the host sees it: where it answers, and which processes are its own.

Made and booted by horus_pipeline.sim.fleet (what runs *on* a robot is horus_pipeline/robot/).
This module only talks to a running robot (SSH, or its namespaces through nsenter) and
identifies its processes by pid *and* start time, so a number the kernel has reused never
stands for a robot.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..determinism import child_env
from ..errors import PipelineError

# A robot's address and host key change with every boot: no known_hosts, never a prompt.
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
)  # fmt: skip


@dataclass
class Robot:
    """One simulated robot: what it is, where it answers, which processes are its own."""

    name: str  # inventory and host name: <image>-<n>
    image: str
    arch: str  # uname -m of the robot
    netns: str  # horus-sim-<n>: namespace, host interface and nspawn machine name
    subnet: str
    address: str  # the robot's eth0: SSH here
    dir: str  # <sim dir>/robots/<name>
    key: str  # private key for root@address
    sim_dir: str
    owner_pid: int | None = None  # a test run: when it is gone, its robots are orphans
    owner_start: int | None = None
    nspawn_pid: int | None = None
    nspawn_start: int | None = None
    leader_pid: int | None = None  # the robot's PID 1 (systemd), as the host sees it
    leader_start: int | None = None
    cgroups: list[str] = field(default_factory=list)  # its own, one per hierarchy (cgroup.py)
    boot_seconds: float | None = None  # nspawn started -> systemd "running"
    ssh_seconds: float | None = None  # nspawn started -> first SSH command answered
    disk: str | None = None  # the disk image it booted from (`nox -s image`), None: the base rootfs

    @property
    def root(self) -> Path:
        """The robot's disk as seen from the host."""
        return Path(self.dir) / "root"

    def ssh_argv(self, command: str | Sequence[str]) -> list[str]:
        remote = command if isinstance(command, str) else shlex.join(command)
        return ["ssh", "-i", self.key, *SSH_OPTIONS, f"root@{self.address}", remote]

    def ssh(
        self,
        command: str | Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command (a string, or argv that gets quoted) on the robot as root over SSH.

        With `check`, a non-zero exit raises PipelineError with the command's output.
        """
        proc = subprocess.run(
            self.ssh_argv(command), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            output = f"{proc.stdout}{proc.stderr}".rstrip()
            raise PipelineError(f"on robot {self.name}: {command!r} exited {proc.returncode}\n{output}")
        return proc

    def journal(self, lines: int = 80, unit: str | None = None) -> str:
        """The tail of the robot's journal (this boot), read without SSH."""
        argv = ["journalctl", "-b", "--no-pager", "-n", str(lines)] + (["-u", unit] if unit else [])
        return self.enter(argv).stdout

    def enter(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run argv inside the running robot through its namespaces (no SSH), never raising."""
        if self.leader_pid is None or not same_process(self.leader_pid, self.leader_start):
            return subprocess.CompletedProcess(list(argv), 1, "", "robot is not running")
        nsenter = ["nsenter", "-t", str(self.leader_pid), "-m", "-u", "-i", "-n", "-p", "--", *argv]
        try:
            return subprocess.run(
                nsenter, capture_output=True, text=True, timeout=timeout, check=False, env=child_env(inherit=False)
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(nsenter, 124, "", f"timed out after {timeout:.0f}s")

    def memory(self) -> tuple[int, int]:
        """(bytes, processes): proportional set size of every process of the robot, qemu included."""
        if self.leader_pid is None:
            return 0, 0
        try:
            ns = os.readlink(f"/proc/{self.leader_pid}/ns/pid")
        except OSError:
            return 0, 0
        total = count = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if os.readlink(proc / "ns/pid") != ns:
                    continue
                rollup = (proc / "smaps_rollup").read_text()
            except OSError:
                continue
            count += 1
            total += sum(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:"))
        return total, count

    def running(self) -> bool:
        return self.nspawn_pid is not None and same_process(self.nspawn_pid, self.nspawn_start)


def start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live process, None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return None
    return int(fields[19])


def same_process(pid: int, start: int | None) -> bool:
    """pid still runs and is the process we noted (not a later one that reused the number)."""
    now = start_time(pid)
    return now is not None and (start is None or now == start)


def container_init(nspawn_pid: int) -> int | None:
    """The robot's PID 1 as the host sees it: the child of nspawn that is pid 1 in its namespace."""
    try:
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{child}/status").read_text()
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspid) > 1 and nspid[-1] == "1":
                return int(child)
    return None
