"""What simulated robots run, noted in /run/horus-sim: one JSON file per robot, named for its namespace.

A robot's entry is written before anything of it exists on the host (names and subnet are
claimed under netns.host_lock) and removed last, after every process, mount and interface
of it is gone; so whatever a killed run leaves behind is found here. /run is a tmpfs: a host
reboot forgets robots whose processes died with it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

from ..determinism import write_atomic
from . import netns
from .robot import Robot, same_process


def path(robot: Robot) -> Path:
    return netns.RUN_DIR / f"{robot.netns}.json"


def save(robot: Robot) -> None:
    netns.RUN_DIR.mkdir(parents=True, exist_ok=True)
    write_atomic(path(robot), json.dumps(asdict(robot), indent=2) + "\n")


def remove(robot: Robot) -> None:
    path(robot).unlink(missing_ok=True)


def load() -> list[Robot]:
    """Every robot noted on this host, of any sim directory; unreadable entries are skipped."""
    robots = []
    if netns.RUN_DIR.is_dir():
        for entry in sorted(netns.RUN_DIR.glob(f"{netns.PREFIX}*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                robots.append(Robot(**json.loads(entry.read_text())))
    return robots


def orphans() -> list[Robot]:
    """Robots whose owner (a test run) has exited without stopping them."""
    return [r for r in load() if r.owner_pid is not None and not same_process(r.owner_pid, r.owner_start)]


def order(robot: Robot) -> tuple[str, int]:
    """Sort key: by image, then by the robot's number (demo-amd64-2 before demo-amd64-10)."""
    image, _, n = robot.name.rpartition("-")
    return image, int(n) if n.isdigit() else 0
