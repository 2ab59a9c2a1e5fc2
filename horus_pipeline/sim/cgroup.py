"""A control group of its own for each simulated robot.

systemd-nspawn with `--keep-unit` on a host without systemd puts the robot under the cgroup
it was started in, as `<cgroup>/payload`. Two robots started from one process would then
share `/payload`, and their systemds would create, kill and remove each other's unit cgroups
(units failing with 219/CGROUP, "Failed to kill control group ... Input/output error"). So
each nspawn first moves into `<our cgroup>/<name>` of every hierarchy systemd uses: the
named v1 `name=systemd` one and the unified (v2) one, whichever are mounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def _hierarchies() -> list[Path]:
    """Mount point joined with our cgroup path, for the systemd-relevant hierarchies."""
    ours: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        ours[controllers] = path
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        mount, root = fields[4], fields[3]
        if fstype == "cgroup2" and "" in ours:
            key = ""
        elif fstype == "cgroup" and "name=systemd" in options and "name=systemd" in ours:
            key = "name=systemd"
        else:
            continue
        path = ours.pop(key)
        found.append(Path(mount) / os.path.relpath(path, root).removeprefix("."))
    return found


def create(name: str) -> list[Path]:
    """Make `name` under our cgroup in each hierarchy; the directories made."""
    made = []
    for parent in _hierarchies():
        group = parent / name
        group.mkdir(exist_ok=True)
        made.append(group)
    return made


def enter(groups: Sequence[Path]) -> Callable[[], None]:
    """A `preexec_fn` that moves the child into `groups` before it execs."""
    targets = [str(g / "cgroup.procs") for g in groups]

    def move() -> None:
        for procs in targets:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    return move


def remove(groups: Sequence[str | Path]) -> None:
    """Remove the groups and whatever the robot's systemd made under them, after SIGKILLing any
    process still in them (none, unless the robot's PID 1 died and left orphans)."""
    for group in map(Path, groups):
        if not group.is_dir():
            continue
        subdirs = sorted((Path(d) for d, _, _ in os.walk(group)), key=lambda p: len(p.parts), reverse=True)
        deadline = time.monotonic() + 10
        while (pids := _pids(subdirs)) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for sub in subdirs:
            with contextlib.suppress(OSError):
                sub.rmdir()


def _pids(groups: Sequence[Path]) -> list[int]:
    pids = []
    for group in groups:
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (group / "cgroup.procs").read_text().split()]
    return pids


def find(names: Sequence[str]) -> list[Path]:
    """The groups named `names` under our cgroup that exist now."""
    return [parent / n for parent in _hierarchies() for n in names if (parent / n).is_dir()]
