"""Per-node statistics, updated by the scheduler thread and readable from any thread while it runs."""

from __future__ import annotations

import os
import time
from typing import Any

# A deadline miss within this window makes a node's health "warning".
RECENT_NS = 5_000_000_000
# Weight of the newest tick interval in the achieved-rate average.
RATE_ALPHA = 0.05


class NodeStats:
    """Counters and tick timings of one node.

    One writer (the scheduler thread) and any number of readers. The writer
    bumps `_version` to odd before a change and to even after it; `snapshot()`
    retries until it has read the fields between two equal even versions, so a
    reader on another thread never sees half of a tick's update. That costs
    the hot path two integer increments instead of a lock.
    """

    def __init__(self, name: str, rate: float, policy: str) -> None:
        self._version = 0
        self.name = name
        self.rate = rate
        self.policy = policy
        self.state = "created"
        self.total_ticks = 0
        self.successful_ticks = 0
        self.failed_ticks = 0
        self.errors_count = 0
        self.deadline_misses = 0
        self.budget_overruns = 0
        self.watchdog_expirations = 0
        self.restarts = 0
        self.consecutive_failures = 0
        self.last_error = ""
        self.sum_ns = 0
        self.min_ns = 0
        self.max_ns = 0
        self.last_ns = 0
        self.rate_ewma = 0.0
        self._last_start = 0
        self._last_miss = -RECENT_NS
        self._started = 0.0

    def started(self) -> None:
        self._started = time.monotonic()
        self.set_state("running")

    def set_state(self, state: str) -> None:
        self._version += 1
        self.state = state
        self._version += 1

    def record_tick(
        self, start_ns: int, end_ns: int, ok: bool, missed: bool, over_budget: bool, watchdog: bool
    ) -> None:
        self._version += 1
        n = self.total_ticks = self.total_ticks + 1
        if ok:
            self.successful_ticks += 1
            self.consecutive_failures = 0
        else:
            self.failed_ticks += 1
        duration = end_ns - start_ns
        self.sum_ns += duration
        self.last_ns = duration
        if n == 1 or duration < self.min_ns:
            self.min_ns = duration
        if duration > self.max_ns:
            self.max_ns = duration
        if missed:
            self.deadline_misses += 1
            self._last_miss = end_ns
        if over_budget:
            self.budget_overruns += 1
        if watchdog:
            self.watchdog_expirations += 1
        if self._last_start:
            hz = 1e9 / max(start_ns - self._last_start, 1)
            self.rate_ewma = hz if n == 2 else self.rate_ewma + RATE_ALPHA * (hz - self.rate_ewma)
        self._last_start = start_ns
        self._version += 1

    def record_error(self, message: str) -> None:
        self._version += 1
        self.errors_count += 1
        self.consecutive_failures += 1
        self.last_error = message
        self._version += 1

    def health(self, now_ns: int | None = None) -> str:
        """healthy | warning (recent deadline misses) | unhealthy (failing, suspended, restarting)
        | failed | stopped | starting."""
        state = self.state
        if state in ("failed", "stopped", "created"):
            return {"failed": "failed", "stopped": "stopped", "created": "starting"}[state]
        if state in ("suspended", "restarting") or self.consecutive_failures:
            return "unhealthy"
        if (now_ns if now_ns is not None else time.monotonic_ns()) - self._last_miss < RECENT_NS:
            return "warning"
        return "healthy"

    def achieved_rate(self) -> float:
        return self.rate_ewma

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        while True:
            before = self._version
            if before & 1:
                time.sleep(0)  # the scheduler thread is mid-update: let it finish
                continue
            snap = self._fields()
            if self._version == before:
                break
        snap.update(extra or {})
        return snap

    def _fields(self) -> dict[str, Any]:
        n = self.total_ticks
        return {
            "name": self.name,
            "state": self.state,
            "health": self.health(),
            "failure_policy": self.policy,
            "rate_hz": self.rate,
            "actual_rate_hz": round(self.rate_ewma, 3),
            "total_ticks": n,
            "successful_ticks": self.successful_ticks,
            "failed_ticks": self.failed_ticks,
            "errors_count": self.errors_count,
            "consecutive_failures": self.consecutive_failures,
            "deadline_misses": self.deadline_misses,
            "budget_overruns": self.budget_overruns,
            "watchdog_expirations": self.watchdog_expirations,
            "restarts": self.restarts,
            "avg_tick_duration_ms": self.sum_ns / n / 1e6 if n else 0.0,
            "min_tick_duration_ms": self.min_ns / 1e6,
            "max_tick_duration_ms": self.max_ns / 1e6,
            "last_tick_duration_ms": self.last_ns / 1e6,
            "uptime_seconds": time.monotonic() - self._started if self._started else 0.0,
            "last_error": self.last_error,
            "pid": os.getpid(),
        }
