"""Per-node statistics, updated by the scheduler thread and readable from any thread while it runs."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

# A deadline miss within this window makes a node's health "warning".
RECENT_S = 5.0


class NodeStats:
    """Counters and tick timings of one node. Writers: the scheduler thread only; readers: anyone."""

    def __init__(self, name: str, rate: float, policy: str) -> None:
        self._lock = threading.Lock()
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
        self._last_miss = -1e9
        self._started = 0.0
        self._rate_window: list[float] = []

    def started(self) -> None:
        with self._lock:
            self._started = time.monotonic()
            self.state = "running"

    def set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    def record_tick(self, duration_ns: int, ok: bool, missed_deadline: bool, over_budget: bool, watchdog: bool) -> None:
        with self._lock:
            self.total_ticks += 1
            if ok:
                self.successful_ticks += 1
                self.consecutive_failures = 0
            else:
                self.failed_ticks += 1
            self.sum_ns += duration_ns
            self.last_ns = duration_ns
            self.min_ns = duration_ns if self.total_ticks == 1 else min(self.min_ns, duration_ns)
            self.max_ns = max(self.max_ns, duration_ns)
            if missed_deadline:
                self.deadline_misses += 1
                self._last_miss = time.monotonic()
            self.budget_overruns += over_budget
            self.watchdog_expirations += watchdog
            self._rate_window.append(time.monotonic())
            if len(self._rate_window) > 64:
                del self._rate_window[0]

    def record_error(self, message: str) -> None:
        with self._lock:
            self.errors_count += 1
            self.consecutive_failures += 1
            self.last_error = message

    def health(self) -> str:
        """healthy | warning (recent deadline misses) | unhealthy (failing, suspended, restarting)
        | failed | stopped | starting."""
        if self.state in ("failed", "stopped", "created"):
            return {"failed": "failed", "stopped": "stopped", "created": "starting"}[self.state]
        if self.state in ("suspended", "restarting") or self.consecutive_failures:
            return "unhealthy"
        if time.monotonic() - self._last_miss < RECENT_S:
            return "warning"
        return "healthy"

    def achieved_rate(self) -> float:
        window = self._rate_window
        if len(window) < 2 or window[-1] == window[0]:
            return 0.0
        return (len(window) - 1) / (window[-1] - window[0])

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            n = self.total_ticks
            snap = {
                "name": self.name,
                "state": self.state,
                "health": self.health(),
                "failure_policy": self.policy,
                "rate_hz": self.rate,
                "actual_rate_hz": round(self.achieved_rate(), 3),
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
        snap.update(extra or {})
        return snap
