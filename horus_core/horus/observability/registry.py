"""The stats registry: each scheduler publishes its nodes' state in shared memory for `horus monitor`.

    /dev/shm/horus.<namespace>/stats/<pid>.<n>    one file per scheduler, one record per node

Each node's NodeStats, once attached, rewrites its record in the same native call
that counts a tick (a seqlock write of ~150 bytes); readers in other processes
never slow it.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from .. import _core
from ..messaging import namespace
from .stats import NodeStats

STATES = _core.STATES
HEALTHS = _core.HEALTHS
_serial = itertools.count()


def stats_dir(ns: str | None = None) -> Path:
    return namespace.directory(ns) / "stats"


class Publisher:
    """This scheduler's registry file."""

    def __init__(self, scheduler: str, nodes: int) -> None:
        ns = namespace.current()
        _core.ns_prepare(str(namespace.directory(ns)))
        _core.ns_prepare(str(stats_dir(ns)))
        self.path = stats_dir(ns) / f"{os.getpid()}.{next(_serial)}"
        self.core = _core.Stats(str(self.path), scheduler, nodes)
        self._attached: list[NodeStats] = []

    def attach(self, index: int, stats: NodeStats) -> None:
        """Record `index` shows `stats` from now on: every tick, error and state change rewrites it."""
        stats.publish_to(self.core, index)
        self._attached.append(stats)

    def close(self) -> None:
        """Remove the file: a stopped scheduler's nodes leave `horus monitor` at once."""
        for stats in self._attached:
            stats.publish_to(None)
        self._attached.clear()
        self.path.unlink(missing_ok=True)
        del self.core


def snapshot(ns: str | None = None) -> list[dict[str, Any]]:
    """Every node of every live scheduler in the namespace."""
    out: list[dict[str, Any]] = []
    directory = stats_dir(ns)
    if not directory.is_dir():
        return out
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not _core.segment_in_use(str(path)):
            continue  # a dead process's file: `horus clean --shm` removes it
        try:
            reg = _core.Stats(str(path))
        except (OSError, ValueError, RuntimeError):
            continue
        now = _core.now_ns()
        for i in range(reg.nodes):
            (name, state, health, ticks, errors, misses, overruns, last_ns, avg_ns, max_ns, updated_ns, rate,
             actual) = reg.read(i)  # fmt: skip
            if not name:
                continue
            out.append({
                "node": name, "scheduler": reg.scheduler, "pid": reg.pid,
                "state": STATES[state] if state < len(STATES) else "unknown",
                "health": HEALTHS[health] if health < len(HEALTHS) else "unknown",
                "total_ticks": ticks, "errors_count": errors, "deadline_misses": misses,
                "budget_overruns": overruns, "last_tick_ms": last_ns / 1e6, "avg_tick_ms": avg_ns / 1e6,
                "max_tick_ms": max_ns / 1e6, "rate_hz": rate, "actual_rate_hz": round(actual, 2),
                "age_s": round((now - updated_ns) / 1e9, 3) if updated_ns else None,
            })  # fmt: skip
    return out
