"""Ask every robot of an inventory how it is, in parallel, one SSH round-trip each.

`query(hosts)` sends probe.py to each robot's Python over SSH (one process per robot, all at
once, each with its own timeout) and turns each answer into a `RobotStatus`; a robot that does
not answer in time, refuses the key or returns garbage is a `RobotStatus` with `error` set, never
left out. `parse(host, document)` is the pure half, tested on captured probe output.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..robot import contract
from .inventory import Host, ssh_argv

# What the robot's own health endpoint still answers 200 for (horus.observability.health.HEALTHY): a node with
# deadline misses is "warning", shown in the misses column, not a robot down.
NODE_OK = ("healthy", "warning")

PROBE = Path(__file__).with_name("probe.py")
DEFAULT_TIMEOUT = 8.0  # seconds per robot, connection included: a fleet answers in about this long
# Seconds of the timeout kept for SSH's connection and the robot's Python starting (under emulation,
# a few); the probe has the rest, and names the parts it could not finish in it.
PROBE_MARGIN = 3.5
MAX_PARALLEL = 64  # ssh processes at once on the operator's machine (each robot gets one connection)


@dataclass
class Unit:
    name: str
    state: str  # ActiveState/SubState, e.g. "active/running", "failed/failed"
    restarts: int  # NRestarts: automatic restarts since the unit was last started by hand (the deploy)

    @property
    def active(self) -> bool:
        return self.state.startswith("active/")


@dataclass
class Node:
    name: str
    process: str  # the scheduler that runs it
    health: str
    errors: int
    deadline_misses: int


@dataclass
class App:
    """One HORUS app installed on the robot by the deploy role."""

    name: str
    prefix: str
    image: str | None
    current: str | None
    previous: str | None
    state: str  # "confirmed", "pending" (switched, not yet confirmed), or "-" (no release)
    deployed_at: float | None  # when `current` was switched (epoch seconds)
    units: list[Unit]
    health: int | None  # HTTP status of the health endpoint, None when it did not answer
    health_error: str | None
    nodes: list[Node]
    monitor_error: str | None
    units_error: str | None = None
    journald: bool | None = None  # the role's journald drop-in is installed
    holds: list[str] = field(default_factory=list)  # live update holds, "holder: reason" (plain text)

    @property
    def errors(self) -> int:
        return sum(n.errors for n in self.nodes)

    @property
    def deadline_misses(self) -> int:
        return sum(n.deadline_misses for n in self.nodes)

    @property
    def restarts(self) -> int:
        return sum(u.restarts for u in self.units)

    @property
    def healthy(self) -> bool:
        return (
            self.health == 200
            and all(u.active for u in self.units)
            and self.monitor_error is None
            and self.units_error is None
            and all(n.health in NODE_OK for n in self.nodes)
        )


@dataclass
class RobotStatus:
    host: str
    address: str
    seconds: float  # how long the robot took to answer (or to fail)
    error: str | None = None  # set when the robot did not answer: the rest is empty
    hostname: str | None = None
    apps: list[App] = field(default_factory=list)
    disk_free: int | None = None  # bytes free on the install prefix's filesystem
    disk_total: int | None = None
    stale_shm: list[str] | None = None  # with shm=True: segments no live process holds
    shm_error: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None

    @property
    def healthy(self) -> bool:
        return self.answered and bool(self.apps) and all(a.healthy for a in self.apps)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["answered"], data["healthy"] = self.answered, self.healthy
        for app, obj in zip(data["apps"], self.apps, strict=True):
            app.update(errors=obj.errors, deadline_misses=obj.deadline_misses, restarts=obj.restarts)
        return data


def query(hosts: Sequence[Host], *, timeout: float = DEFAULT_TIMEOUT, shm: bool = False) -> list[RobotStatus]:
    """Every host's status, in the order given; all asked at once, each within `timeout` seconds."""
    source = PROBE.read_bytes()
    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), MAX_PARALLEL))) as pool:
        return list(pool.map(lambda h: ask(h, source, timeout, shm), hosts))


def ask(h: Host, source: bytes, timeout: float, shm: bool) -> RobotStatus:
    """One robot: run the probe over SSH and parse its answer, or say why there was none."""
    # The robot answers within what is left once SSH has connected and its Python has started.
    budget = max(1.0, timeout - PROBE_MARGIN)
    probe = [h.python, "-", "--apps", contract.APPS_DIR, "--budget", f"{budget:g}", *(["--shm"] if shm else [])]
    argv = ssh_argv(h, probe, connect_timeout=min(timeout - 1, 5))
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, input=source, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return RobotStatus(h.name, h.address, time.monotonic() - start, error=f"timed out after {timeout:g}s")
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        said = proc.stderr.decode(errors="replace").strip().splitlines()
        why = plain(said[-1], 300) if said else f"exit {proc.returncode}"  # a robot's sshd or shell said it
        return RobotStatus(h.name, h.address, seconds, error=f"ssh {h.address}: {why}")
    try:
        document = json.loads(proc.stdout)
    except ValueError:
        return RobotStatus(h.name, h.address, seconds, error=f"unreadable answer: {proc.stdout[:200]!r}")
    return parse(h, document, seconds)


def parse(h: Host, doc: dict[str, Any], seconds: float = 0.0) -> RobotStatus:
    """A RobotStatus from the probe's JSON document."""
    disk = doc.get("disk") or {}
    shm = doc.get("shm")
    return RobotStatus(
        host=h.name,
        address=h.address,
        seconds=seconds,
        hostname=_plain_or_none(doc.get("hostname")),
        apps=[_app(name, entry) for name, entry in sorted(doc.get("apps", {}).items())],
        disk_free=disk.get("free"),
        disk_total=disk.get("total"),
        stale_shm=None if shm is None else [plain(name) for name in shm.get("stale") or []],
        shm_error=None if shm is None else _plain_or_none(shm.get("error"), 300),
    )


def _app(name: str, entry: dict[str, Any]) -> App:
    """One app of a robot's answer. Every string in it came from the robot (node names, errors,
    holds): each is made plain text here, so no table shows a robot's escape sequences."""
    rel, units, health, monitor = (entry.get(k) or {} for k in ("release", "units", "health", "monitor"))
    nodes = [
        Node(
            plain(n["node"]),
            plain(n.get("scheduler", "")),
            plain(n["health"]),
            int(n["errors_count"]),
            int(n["deadline_misses"]),
        )
        for n in monitor.get("nodes", [])
    ]
    return App(
        name=plain(name),
        prefix=plain(entry.get("prefix", "")),
        image=_plain_or_none(rel.get("image")),
        current=_plain_or_none(rel.get("current")),
        previous=_plain_or_none(rel.get("previous")),
        state=release_state(rel),
        deployed_at=rel.get("switched_at"),
        units=[
            Unit(
                plain(unit),
                plain(f"{p.get('ActiveState', '?')}/{p.get('SubState', '?')}"),
                int(p.get("NRestarts") or 0),
            )
            for unit, p in sorted(units.items())
            if isinstance(p, dict)
        ],
        health=health.get("status"),
        health_error=_plain_or_none(health.get("error")),
        nodes=nodes,
        monitor_error=_plain_or_none(monitor.get("error"), 500),
        journald=entry.get("journald"),
        holds=[
            plain(f"{h.get('holder', '?')}: {h.get('reason', '?')}")
            for h in (entry.get("holds") or {}).get("holds", [])
            if isinstance(h, dict)
        ],
        units_error=plain(units["error"]) if isinstance(units.get("error"), str) else None,
    )


def plain(text: object, limit: int = 120) -> str:
    """Text a robot sent, as one line an operator's terminal shows as it is (no escape sequences)."""
    return "".join(c if c.isprintable() else "?" for c in str(text))[:limit]


def _plain_or_none(text: object, limit: int = 120) -> str | None:
    return None if text is None else plain(text, limit)


def release_state(rel: dict[str, Any]) -> str:
    """`confirmed` when the deploy confirmed the current release (the role's `healthy` marker names
    it), `pending` when `current` was switched and not confirmed (the robot goes back by itself:
    the role's release-guard), "-" when no release runs."""
    current = rel.get("current")
    if current is None:
        return "-"
    return "confirmed" if rel.get("healthy") == current else "pending"
