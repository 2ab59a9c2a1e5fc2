"""Simulated robots: booted Debian robots on this machine that Ansible reaches over SSH.

Each robot is a copy-on-write overlay of its image's cached base rootfs (horus_pipeline.sim.rootfs)
with its own host keys and machine id, booted by `systemd-nspawn --boot`: real systemd,
journald and sshd, amd64 natively and arm64 through qemu-user. Each lives in a network
namespace of its own (horus_pipeline.sim.netns), so it has its own loopback and port 22, answering
on the robot end of a private /30, and in a cgroup of its own (horus_pipeline.sim.cgroup). A sim
directory holds what the robots need on the host:

    <dir>/inventory.yml             Ansible inventory: group `robots`, `horus_image` per host
    <dir>/ssh_config                `ssh -F <dir>/ssh_config ROBOT`: root on a robot by its name
    <dir>/id_ed25519                the key root's and the deploy account's authorized_keys accept
    <dir>/robots/<name>/root/       the robot's disk: an overlay mount of the image's cached base
                                    rootfs, its changes in disk/ beside it; console.log too

What runs (nspawn pids, namespaces, addresses) is noted in /run/horus-sim/<netns>.json, so a
later `--stop` finds it, and robots of a test run that was killed are reaped.
`nox -s sim` uses `dist/sim`; the end-to-end tests use a directory of their own (same code).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import REPO
from ..console import info, run_cli, step
from ..determinism import child_env, write_atomic
from ..errors import PipelineError
from ..gpt import root_partition
from ..images import ImageSpec, image_names, load_image
from ..proc import run
from ..targets import get_arch
from . import cgroup, netns, registry
from .prereqs import ensure_host_tools, require_root
from .robot import SSH_OPTIONS, Robot, container_init, same_process, start_time
from .rootfs import ensure_rootfs, mount_overlay, mounts_under, unmount_under

DEFAULT_DIR = REPO / "dist" / "sim"

STOP_TIMEOUT = 60.0
# A robot's own host keys: ed25519 and ECDSA (RSA takes seconds to make, per robot), and what
# tells sshd to use just those (robot images make the same at first boot: image/content.py).
HOST_KEY_TYPES = ("ed25519", "ecdsa")
HOST_KEYS_CONF = "".join(f"HostKey /etc/ssh/ssh_host_{kind}_key\n" for kind in HOST_KEY_TYPES)
NSPAWN_LOCKS = Path("/run/systemd/nspawn/locks")


class Sim:
    """The robots of one sim directory: boot them, stop them, keep their inventory current."""

    def __init__(self, directory: Path = DEFAULT_DIR, *, owner_pid: int | None = None) -> None:
        self.dir = directory.resolve()
        self.owner_pid = owner_pid
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._started: dict[str, float] = {}  # netns -> monotonic time nspawn started

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    def robots(self) -> list[Robot]:
        """This sim's robots, as noted in /run/horus-sim (booted or booting)."""
        return sorted((r for r in registry.load() if Path(r.sim_dir) == self.dir), key=registry.order)

    def up(
        self, image: ImageSpec, count: int, *, rebuild_rootfs: bool = False, disk: Path | None = None
    ) -> list[Robot]:
        """Have exactly `count` robots of `image` running: boot the missing (from `disk`, a disk image
        of `image`, when given), stop the extra."""
        self._forget_dead()
        mine = [r for r in self.robots() if r.image == image.name]
        if len(mine) > count:
            self.stop(mine[count:])
        if rebuild_rootfs:
            self.stop([r for r in self.robots() if r.image == image.name])  # their disks sit on the old base
            mine = []
            ensure_rootfs(image, rebuild=True)
        if len(mine) < count:
            self.boot(image, count - len(mine), disk=disk)
        self.write_inventory()
        return [r for r in self.robots() if r.image == image.name]

    def boot(
        self,
        image: ImageSpec,
        count: int = 1,
        *,
        customize: Callable[[Path], None] | None = None,
        timeout: float | None = None,
        disk: Path | None = None,
    ) -> list[Robot]:
        """Boot `count` new robots of `image`, wait until each runs and answers SSH, and return them.

        `customize(root)` may change a robot's disk before it boots (e.g. break it on purpose).
        `disk`, a disk image of `image` (`nox -s image`), boots each robot as if flashed with it:
        its root partition (read-only, loop-mounted) is the robot's base, and the robot makes its
        own machine id and host keys at first boot.
        If any robot fails to boot, every robot of this call is stopped and removed, and the
        PipelineError names the robot, what systemd said and its journal.
        """
        require_root("booting simulated robots")
        arch = image.target.arch
        ensure_host_tools([arch])
        base = None if disk else ensure_rootfs(image)
        self._ensure_key()
        timeout = timeout or arch.boot_timeout
        robots: list[Robot] = []
        try:
            with step(f"Preparing {count} {image.name} robot(s)"):
                for _ in range(count):
                    robots.append(self._claim(image, disk))
                with ThreadPoolExecutor(max_workers=min(count, os.cpu_count() or 1)) as pool:
                    list(pool.map(lambda r: self._prepare(r, base, customize), robots))
            with step(f"Booting {count} {image.name} robot(s) ({arch.name})"):
                for robot in robots:
                    self._spawn(robot)
                with ThreadPoolExecutor(max_workers=count) as pool:
                    list(pool.map(lambda r: self._wait(r, timeout), robots))
        except BaseException:
            self.stop(robots)
            raise
        self.write_inventory()
        return robots

    def stop(self, robots: Iterable[Robot] | None = None) -> None:
        """Stop robots (all of this sim's by default) and remove what they used: processes,
        namespaces, interfaces, disks. Stopping all also removes the key and the inventory."""
        everything = robots is None
        targets = self.robots() if robots is None else list(robots)
        if targets:
            with step(f"Stopping {len(targets)} robot(s)"):
                _teardown(targets, self._procs)
        if everything:
            for path in (self.inventory, self.ssh_config, self.key, self.key.with_suffix(".pub")):
                path.unlink(missing_ok=True)
            robots_dir = self.dir / "robots"
            if robots_dir.exists():
                unmount_under(robots_dir)
                shutil.rmtree(robots_dir)
            with contextlib.suppress(OSError):
                self.dir.rmdir()
        else:
            self.write_inventory()

    def reboot(self, robot: Robot, timeout: float | None = None) -> None:
        """Reboot a robot from its own disk (orderly poweroff, then boot), as after a power cycle;
        wait until it runs and answers SSH again."""
        pid, start = robot.nspawn_pid, robot.nspawn_start
        robot.enter(["systemctl", "poweroff", "--no-block"], timeout=30)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid is not None and same_process(pid, start) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is not None and same_process(pid, start):
            raise PipelineError(f"robot {robot.name} did not power off within {STOP_TIMEOUT:.0f}s")
        proc = self._procs.pop(pid, None) if pid is not None else None
        if proc is not None:
            proc.wait()
        robot.leader_pid = robot.leader_start = None
        self._spawn(robot)
        self._wait(robot, timeout or get_arch(robot.arch).boot_timeout)

    def leftovers(self, robots: Iterable[Robot] = ()) -> list[str]:
        """What of this sim (and of `robots`) is still on the host: empty after a clean stop."""
        found = []
        names = {r.netns for r in robots} | {r.netns for r in self.robots()}
        found += [f"registry entry for {r.name}" for r in self.robots()]
        found += [f"network namespace {n}" for n in netns.namespaces() if n in names]
        found += [f"interface {n}" for n in netns.interfaces() if n in names]
        found += [f"mount {m}" for m in mounts_under(self.dir)]
        found += [f"cgroup {g}" for g in cgroup.find(sorted(names))]
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):  # gone meanwhile, or a kernel thread
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                nspawn = "systemd-nspawn" in cmd and (
                    str(self.dir) in cmd or any(f"--machine={n} " in f"{cmd} " for n in names)
                )
                groups = (proc / "cgroup").read_text()
                inside = any(f"/{n}/" in groups or groups.endswith(f"/{n}\n") for n in names)  # a robot's
                exited = start_time(int(proc.name)) is None  # a zombie: its parent has yet to reap it
                if (nspawn or inside) and not exited:
                    found.append(f"process {proc.name}: {cmd}")
        losetup = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True, text=True)
        disks = {str(self.dir), *(r.disk for r in robots if r.disk)}
        found += [f"loop device {line}" for line in losetup.stdout.splitlines() if any(d in line for d in disks)]
        return found

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    def write_inventory(self) -> Path | None:
        """Write <dir>/inventory.yml and <dir>/ssh_config (`ssh -F <dir>/ssh_config ROBOT`) for the
        running robots (remove them when there are none)."""
        robots = [r for r in self.robots() if r.running()]
        if not robots:
            self.inventory.unlink(missing_ok=True)
            self.ssh_config.unlink(missing_ok=True)
            return None
        # Robots get new host keys at every boot, on addresses used before: nothing to remember.
        hosts = [
            f"Host {r.name}\n  HostName {r.address}\n  User root\n  IdentityFile {self.key}\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
            for r in robots
        ]
        write_atomic(self.ssh_config, "# Simulated robots: ssh -F THIS_FILE ROBOT_NAME\n" + "".join(hosts))
        lines = [
            "# Simulated robots (horus_pipeline/sim/fleet.py): rewritten on every boot and stop.",
            "# `nox -s sim -- --stop` stops them and removes this file.",
            "robots:",
            "  hosts:",
        ]
        for r in robots:
            lines += [
                f"    {r.name}:",
                f"      ansible_host: {r.address}",
                f"      horus_image: {r.image}",
                f"      horus_arch: {r.arch}",
            ]
        lines += [
            "  vars:",
            f"    ansible_user: {DEPLOY_USER}",
            "    ansible_become: true",
            f"    ansible_ssh_private_key_file: {json.dumps(str(self.key))}",
            f"    ansible_ssh_common_args: {json.dumps(' '.join(SSH_OPTIONS[:6]))}",
            "    ansible_python_interpreter: /usr/bin/python3",
            "    # Simulated robots take unsigned releases (the deploy warns on each). A real fleet sets",
            "    # horus_robot_allowed_signers instead: see ansible/inventory/example.yml.",
            "    horus_robot_allow_unsigned: true",
        ]
        write_atomic(self.inventory, "\n".join(lines) + "\n")
        return self.inventory

    # -- boot steps ---------------------------------------------------------------------------

    def _ensure_key(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "horus-sim", "-f", str(self.key)],
                what="generating the sim's SSH key",
            )

    def _claim(self, image: ImageSpec, disk: Path | None) -> Robot:
        """Pick names and a subnet under the host lock, note them, and make the network."""
        with netns.host_lock():
            claims = registry.load()
            name = netns.free_name({r.netns for r in claims})
            subnet = netns.free_subnet({r.subnet for r in claims})
            taken = {r.name for r in claims if Path(r.sim_dir) == self.dir}
            n = 1
            while f"{image.name}-{n}" in taken:
                n += 1
            link = netns.Link(name, subnet)
            robot = Robot(
                name=f"{image.name}-{n}",
                image=image.name,
                arch=image.target.arch.name,
                netns=name,
                subnet=subnet,
                address=link.robot_address,
                dir=str(self.dir / "robots" / f"{image.name}-{n}"),
                key=str(self.key),
                sim_dir=str(self.dir),
                owner_pid=self.owner_pid,
                owner_start=start_time(self.owner_pid) if self.owner_pid else None,
                disk=str(disk.resolve()) if disk else None,
            )
            registry.save(robot)
            try:
                netns.create(link)
            except BaseException:
                registry.remove(robot)
                raise
        return robot

    def _prepare(self, robot: Robot, base: Path | None, customize: Callable[[Path], None] | None) -> None:
        """The robot's own disk: the base (or its disk image's root) under an overlay (copy-on-write),
        with its own name and our key for root; host keys and machine id unless its image makes them."""
        robot_dir = Path(robot.dir)
        if robot_dir.exists():  # left by a host reboot: nothing runs from it
            unmount_under(robot_dir)
            shutil.rmtree(robot_dir)
        if robot.disk:
            base = robot_dir / "flashed"
            mount_root_partition(Path(robot.disk), base)
        assert base is not None
        mount_overlay(base, robot_dir / "disk", robot.root)
        root = robot.root
        if not robot.disk:
            _identity(root, robot.name)
        (root / "etc/hostname").write_text(robot.name + "\n")
        (root / "etc/hosts").write_text(
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{robot.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        deploy_account(root, self.key.with_suffix(".pub").read_text())
        if not get_arch(robot.arch).native:
            _without_credentials(root)
            _slow_start_allowed(root)
        if customize:
            customize(root)

    def _spawn(self, robot: Robot) -> None:
        argv = [
            "systemd-nspawn",
            "--quiet",
            f"--directory={robot.root}",
            f"--machine={robot.netns}",
            "--boot",
            # This host runs no systemd: do not register with machined, stay in our cgroup.
            "--register=no",
            "--keep-unit",
            f"--network-namespace-path={netns.Link(robot.netns, robot.subnet).path}",
            "--resolv-conf=off",  # offline, like a robot on a factory network
            "--link-journal=no",  # the journal stays on the robot's disk
            "--console=read-only",  # boot messages go to console.log
            # Real-time nodes lock memory (mlockall); nspawn keeps CAP_SYS_NICE by default.
            "--capability=CAP_IPC_LOCK",
        ]
        groups = cgroup.create(robot.netns)
        robot.cgroups = [str(g) for g in groups]
        registry.save(robot)
        log = (Path(robot.dir) / "console.log").open("wb")
        with log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `nox -s sim`; no terminal signal reaches it
                env=child_env(inherit=False),
                preexec_fn=cgroup.enter(groups),  # no other thread runs while we spawn
            )
        self._procs[proc.pid] = proc
        robot.nspawn_pid, robot.nspawn_start = proc.pid, start_time(proc.pid)
        self._started[robot.netns] = time.monotonic()
        registry.save(robot)

    def _wait(self, robot: Robot, timeout: float) -> None:
        """Wait for systemd `running` (via nsenter), then for SSH; raise with the journal if not."""
        started = self._started.get(robot.netns, time.monotonic())
        deadline = started + timeout
        while robot.leader_pid is None:
            if not robot.running():
                raise self._boot_error(robot, "systemd-nspawn exited")
            robot.leader_pid = container_init(robot.nspawn_pid or 0)
            if time.monotonic() > deadline:
                raise self._boot_error(robot, f"no init process after {timeout:.0f}s")
            time.sleep(0.1)
        robot.leader_start = start_time(robot.leader_pid)
        registry.save(robot)
        state = ""
        while time.monotonic() < deadline:
            left = max(1.0, deadline - time.monotonic())
            state = robot.enter(["systemctl", "is-system-running", "--wait"], timeout=left).stdout.strip()
            if state in ("running", "degraded", "maintenance", "stopping") or not robot.running():
                break
            time.sleep(0.2)  # systemd not listening yet
        robot.boot_seconds = round(time.monotonic() - started, 1)
        if state != "running":
            raise self._boot_error(robot, _systemd_problem(robot, state, timeout, deadline))
        while robot.ssh("true", check=False, timeout=10).returncode != 0:
            # A unit may fail after startup finished (sshd restarting until it gives up).
            state = robot.enter(["systemctl", "is-system-running"]).stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                why = _systemd_problem(robot, state, timeout, deadline)
                raise self._boot_error(robot, f"sshd does not answer on {robot.address}:22; {why}")
            time.sleep(0.2)
        robot.ssh_seconds = round(time.monotonic() - started, 1)
        registry.save(robot)

    def _boot_error(self, robot: Robot, why: str) -> PipelineError:
        journal = robot.journal(40).strip() if robot.running() else ""
        log = Path(robot.dir) / "console.log"
        console = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
        return PipelineError(
            f"robot {robot.name} ({robot.image}, {robot.arch}) did not boot: {why}\n"
            + (f"--- its journal:\n{journal}\n" if journal else "")
            + (f"--- its console:\n{console}\n" if console else "")
            + "The robot was stopped and removed. A unit that fails in a container only (e.g. one "
            "needing hardware) can be masked in the image's rootfs; otherwise see the journal above."
        )

    def _forget_dead(self) -> None:
        """Robots whose nspawn is gone (it crashed, the host rebooted): remove their remains."""
        dead = [r for r in self.robots() if not r.running()]
        if dead:
            info(f"removing robots that are no longer running: {', '.join(r.name for r in dead)}")
            _teardown(dead, self._procs)


def _identity(root: Path, name: str) -> None:
    """Host keys and a machine id of the robot's own (a robot flashed with a disk image makes them at boot)."""
    for kind in HOST_KEY_TYPES:
        keyfile = root / f"etc/ssh/ssh_host_{kind}_key"
        run(
            ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{name}", "-f", str(keyfile)],
            what=f"host keys for {name}",
        )
    (root / "etc/ssh/sshd_config.d/host-keys.conf").write_text(HOST_KEYS_CONF)
    (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")


def mount_root_partition(disk: Path, at: Path) -> None:
    """Mount a disk image's root partition read-only at `at` (a loop device, freed at unmount)."""
    offset, size = root_partition(disk)
    at.mkdir(parents=True, exist_ok=True)
    run(
        ["mount", "-t", "ext4", "-o", f"ro,loop,offset={offset},sizelimit={size}", str(disk), str(at)],
        what=f"mounting the root partition of {disk}",
    )


def _systemd_problem(robot: Robot, state: str, timeout: float, deadline: float) -> str:
    failed = robot.enter(["systemctl", "--failed", "--no-legend", "--plain"]).stdout.strip()
    why = f"systemd says {state or 'nothing'!r}" + (f"; failed units:\n{failed}" if failed else "")
    for unit in [line.split()[0] for line in failed.splitlines() if line.strip()]:
        why += f"\n--- {unit}:\n" + robot.journal(10, unit=unit).strip()
    return f"not running after {timeout:.0f}s ({why})" if time.monotonic() >= deadline else why


def _without_credentials(root: Path) -> None:
    """Drop the systemd credentials of the units shipped in a foreign-CPU robot.

    Under qemu-user (7.2) systemd cannot set up a unit's credentials ("Failed to set up
    credentials: Invalid argument", exit 243/CREDENTIALS), so systemd-tmpfiles-setup,
    systemd-sysusers and friends would fail at boot. They load optional credentials that a
    robot never gets; a drop-in resets them. Hardening (ProtectSystem=, PrivateTmp=, ...)
    works under qemu-user; only units that really use LoadCredential= do not.
    """
    keys = ("LoadCredential", "LoadCredentialEncrypted", "SetCredential", "SetCredentialEncrypted")
    for unit in sorted((root / "usr/lib/systemd/system").glob("*.service")):
        used = sorted({line.split("=", 1)[0] for line in unit.read_text().splitlines() if line.startswith(keys)})
        if used:
            dropin = root / "etc/systemd/system" / f"{unit.name}.d" / "horus-sim-qemu.conf"
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text(
                "# Simulated robot under qemu-user, which cannot set up systemd credentials: none here.\n"
                "[Service]\n" + "".join(f"{key}=\n" for key in used)
            )


DEPLOY_USER = "deploy"


def deploy_account(root: Path, public_key: str) -> None:
    """The account Ansible logs in as: unprivileged, this key, root only through sudo (`become`),
    as a fleet's robots are set up (a robot image may hold it already: then only the key is set).
    On simulated robots root's key stays for the tests' own inspection."""
    if f"\n{DEPLOY_USER}:" not in "\n" + (root / "etc/passwd").read_text():
        run(
            ["useradd", "--root", str(root), "--create-home", "--user-group", "--shell", "/bin/sh", DEPLOY_USER],
            env=child_env(inherit=False),  # SOURCE_DATE_EPOCH: the day shadow records
            what=f"deploy account in {root}",
        )
    home = root / "home" / DEPLOY_USER
    ids = (root / "etc/passwd").read_text().split(f"\n{DEPLOY_USER}:")[1].split(":")
    uid, gid = int(ids[1]), int(ids[2])
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(public_key)
    for path in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(path, uid, gid)
    (ssh_dir / "authorized_keys").chmod(0o600)
    sudoers = root / "etc/sudoers.d" / DEPLOY_USER
    sudoers.write_text(f"# The deploy account becomes root for Ansible.\n{DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)


# An emulated CPU runs a node's imports 10-30x slower than the robot it stands for (torch under
# qemu-user on a loaded 2-core CI runner: over 90 s). systemd's default start timeout would then
# kill a healthy node mid-import and restart it until its start limit, so the deploy never
# settles. The real robot keeps systemd's default.
_EMULATED_START_TIMEOUT = "10min"


def _slow_start_allowed(root: Path) -> None:
    """Raise systemd's default start timeout on a foreign-CPU robot (see above)."""
    conf = root / "etc/systemd/system.conf.d/horus-sim-qemu.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        "# Simulated robot under qemu-user: node imports are far slower than on the real CPU.\n"
        f"[Manager]\nDefaultTimeoutStartSec={_EMULATED_START_TIMEOUT}\n"
    )


def reap_orphans() -> list[str]:
    """Stop robots whose owner (a test run) has exited without stopping them; their names."""
    orphans = registry.orphans()
    if orphans:
        info(f"stopping robots left by a run that did not stop them: {', '.join(r.name for r in orphans)}")
        _teardown(orphans, {})
    return [r.name for r in orphans]


def _teardown(robots: list[Robot], procs: dict[int, subprocess.Popen[bytes]]) -> None:
    """Stop robots in parallel (orderly poweroff, then SIGKILL) and remove all they used."""
    for r in robots:
        # An orderly poweroff, asked of the robot's systemd directly: it also works when nspawn
        # was killed and left the robot running. Not SIGTERM to nspawn first: that becomes
        # SIGRTMIN+3 to the robot's PID 1, which a systemd under qemu-user never sees.
        poweroff = ["systemctl", "poweroff", "--no-block"]
        if r.enter(poweroff, timeout=30).returncode != 0 and r.running() and r.nspawn_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(r.nspawn_pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for r in robots:
        for pid, start in ((r.nspawn_pid, r.nspawn_start), (r.leader_pid, r.leader_start)):
            if pid is None or start is None:
                continue
            while same_process(pid, start) and time.monotonic() < deadline:
                time.sleep(0.1)
            if same_process(pid, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # PID 1 of the robot: takes every process in it along
                kill_deadline = time.monotonic() + 10
                while same_process(pid, start) and time.monotonic() < kill_deadline:
                    time.sleep(0.05)
            proc = procs.pop(pid, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
        cgroup.remove(r.cgroups)
        netns.destroy(r.netns)
        with contextlib.suppress(OSError):  # nspawn's lock on the robot's tree, left if it was killed
            st = os.stat(r.root)
            (NSPAWN_LOCKS / f"inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)
        robot_dir = Path(r.dir)
        if robot_dir.exists():
            unmount_under(robot_dir)
            shutil.rmtree(robot_dir)
        registry.remove(r)


# -- nox -s sim -----------------------------------------------------------------------------


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def _report(sim: Sim) -> None:
    robots = [r for r in sim.robots() if r.running()]
    if not robots:
        print("No simulated robots are running.")
        return
    print(f"{'robot':<18} {'image':<14} {'arch':<8} {'address':<15} {'boot':>6} {'ssh':>6} {'memory':>9}")
    for r in robots:
        mem, procs = r.memory()
        print(
            f"{r.name:<18} {r.image:<14} {r.arch:<8} {r.address:<15} {r.boot_seconds or 0:>5.1f}s "
            f"{r.ssh_seconds or 0:>5.1f}s {mem / 2**20:>5.0f} MiB  ({procs} processes)"
        )
    rel = os.path.relpath(sim.inventory)
    print(f"\nInventory: {rel}\n  ansible -i {rel} robots -m ping")
    print(f"  ssh -F {os.path.relpath(sim.ssh_config)} {robots[0].name}    # or any robot above")
    print("Stop them all: nox -s sim -- --stop")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s sim",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Boot simulated robots of a robot image on this machine (as root): Debian with real\n"
            "systemd, journald and sshd, booted by systemd-nspawn; arm64 images run through\n"
            "qemu-user. Each robot has its own network namespace and address, and Ansible\n"
            "reaches it over SSH through dist/sim/inventory.yml (group `robots`)."
        ),
        epilog=(
            "examples:\n"
            "  nox -s sim -- demo-amd64               one amd64 robot\n"
            "  nox -s sim -- demo-arm64 --count 2     two arm64 robots, besides any others\n"
            "  nox -s sim -- fleet-amd64 --disk dist/images/fleet-amd64/RELEASE.img   flashed with an image\n"
            "  nox -s sim                             list running robots: address, boot time, memory\n"
            "  ansible-playbook -i dist/sim/inventory.yml ansible/deploy.yml\n"
            "  ssh -F dist/sim/ssh_config demo-amd64-1 horus monitor --once\n"
            "  nox -s sim -- demo-arm64 --stop        stop the demo-arm64 robots only\n"
            "  nox -s sim -- --stop                   stop all, remove dist/sim\n\n"
            "The first run per image builds its base rootfs with mmdebstrap (amd64 ~30 s, arm64\n"
            "~3 min) and caches it; host tools (mmdebstrap, systemd-container, qemu-user-static)\n"
            "are installed with apt when missing."
        ),
    )
    parser.add_argument(
        "image",
        nargs="?",
        metavar="IMAGE",
        help=f"robot image, a name under images/ ({', '.join(image_names())})",
    )
    parser.add_argument(
        "--count",
        "-n",
        type=_positive,
        default=1,
        metavar="N",
        help="how many robots of IMAGE should run (default 1): missing ones boot, extra ones stop",
    )
    parser.add_argument(
        "--stop",
        action="store_true",
        help="stop every simulated robot and remove dist/sim; with IMAGE, only the robots of IMAGE",
    )
    parser.add_argument(
        "--disk",
        type=Path,
        metavar="IMG",
        help="boot the missing robots as if flashed with IMG, a disk image of IMAGE (`nox -s image`)",
    )
    parser.add_argument(
        "--rebuild-rootfs",
        action="store_true",
        help="rebuild IMAGE's cached base rootfs first and list the package versions that changed",
    )
    args = parser.parse_args(argv)
    sim = Sim(DEFAULT_DIR)

    def body() -> None:
        if args.stop:
            require_root("stopping simulated robots")
            reap_orphans()
            if args.image:
                sim.stop([r for r in sim.robots() if r.image == args.image])
                _report(sim)
            else:
                sim.stop()
                print("All simulated robots stopped; dist/sim removed.")
        elif args.image:
            image = load_image(args.image)
            require_root("booting simulated robots")
            reap_orphans()
            sim.up(image, args.count, rebuild_rootfs=args.rebuild_rootfs, disk=args.disk)
            _report(sim)
        else:
            _report(sim)

    return run_cli(body)
