"""Per-node statistics, updated by the scheduler thread and readable from any thread while it runs."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from .. import _core

# The node states and health levels of the native core (_core.STATES, _core.HEALTHS, in
# enum order): written here for type checkers; a test holds the two lists together.
NodeStateName = Literal["created", "initializing", "running", "suspended", "restarting", "failed", "stopped"]
HealthName = Literal["starting", "healthy", "warning", "unhealthy", "failed", "stopped"]


class NodeStats(_core.NodeStats):
    """Counters and tick timings of one node.

    The totals live in the native core (horus_tick_stats): ``record_tick`` counts a
    tick and, once the scheduler attached its registry (``publish_to``), rewrites the
    node's shared-memory record for ``horus monitor`` in the same call. One writer
    (the scheduler thread) and any number of readers: every update and every read
    is one native call holding the GIL, so a reader on another thread never sees
    half of a tick's update, and the hot path takes no lock. Health is "warning" for
    5 s after a deadline miss; the achieved rate is an average of tick intervals
    (HORUS_RECENT_MISS_NS and HORUS_RATE_ALPHA in csrc/horus.h).

    Attributes (read-only but ``restarts``): name, rate, state, total_ticks,
    successful_ticks, failed_ticks, errors_count, consecutive_failures,
    deadline_misses, budget_overruns, watchdog_expirations, restarts, last_error,
    sum_ns, min_ns, max_ns, last_ns, rate_ewma.
    """

    __slots__ = ("_started", "policy")

    def __init__(self, name: str, rate: float, policy: str) -> None:
        super().__init__(name, rate)
        self.policy = policy
        self._started = 0.0

    def started(self) -> None:
        self._started = time.monotonic()
        self.set_state("running")

    def achieved_rate(self) -> float:
        return self.rate_ewma

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        snap = {"name": self.name, "failure_policy": self.policy, "rate_hz": self.rate, **self.fields()}
        snap["actual_rate_hz"] = round(snap["actual_rate_hz"], 3)
        snap["uptime_seconds"] = time.monotonic() - self._started if self._started else 0.0
        snap["pid"] = os.getpid()
        snap.update(extra or {})
        return snap
