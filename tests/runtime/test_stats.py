"""Node statistics: what a tick counts, health, consistency for other threads, the registry other processes read."""

from __future__ import annotations

import json
import threading
from typing import get_args

import pytest
from horus import _core
from horus.observability import registry
from horus.observability.stats import HealthName, NodeStateName, NodeStats
from horus_procs import Py

MS = 1_000_000
T0 = 1_000 * MS  # a CLOCK_MONOTONIC-like origin (0 is "no tick yet")

READ_REGISTRY = """
import json
from horus.observability import registry
print(json.dumps(registry.snapshot()))
"""


def ticked(durations_ns: list[int], period_ns: int = MS) -> NodeStats:
    """A running node's stats after ticks of these durations, started every period_ns, all successful."""
    stats = NodeStats("arm", 1000.0, "fatal")
    stats.started()
    for i, d in enumerate(durations_ns):
        stats.record_tick(T0 + i * period_ns, T0 + i * period_ns + d, True, False, False, False)
    return stats


def test_ticks_give_counts_min_max_avg_last_and_rate() -> None:
    stats = ticked([3000, 1000, 5000, 2000])
    snap = stats.snapshot({"order": 7})
    assert (snap["name"], snap["failure_policy"], snap["rate_hz"], snap["order"]) == ("arm", "fatal", 1000.0, 7)
    assert snap["state"] == "running" and snap["health"] == "healthy"
    assert (snap["total_ticks"], snap["successful_ticks"], snap["failed_ticks"]) == (4, 4, 0)
    assert (stats.min_ns, stats.max_ns, stats.last_ns, stats.sum_ns) == (1000, 5000, 2000, 11000)
    assert snap["min_tick_duration_ms"] == 0.001 and snap["max_tick_duration_ms"] == 0.005
    assert snap["avg_tick_duration_ms"] == 11000 / 4 / 1e6 and snap["last_tick_duration_ms"] == 0.002
    assert snap["actual_rate_hz"] == 1000.0 == stats.achieved_rate()
    # A slower interval moves the average by a twentieth of the difference.
    stats.record_tick(T0 + 5 * MS, T0 + 5 * MS + 1000, True, False, False, False)
    assert stats.rate_ewma == pytest.approx(1000 + 0.05 * (500 - 1000))


def test_misses_overruns_watchdog_and_failures_are_counted() -> None:
    stats = ticked([1000])
    stats.record_tick(T0 + MS, T0 + 2 * MS, False, True, True, True)
    stats.record_error("ValueError: bad frame")
    stats.record_tick(T0 + 2 * MS, T0 + 3 * MS, False, False, False, False)
    stats.record_error("ValueError: bad frame again")
    assert (stats.failed_ticks, stats.errors_count, stats.consecutive_failures) == (2, 2, 2)
    assert (stats.deadline_misses, stats.budget_overruns, stats.watchdog_expirations) == (1, 1, 1)
    assert stats.last_error == "ValueError: bad frame again"
    stats.record_tick(T0 + 3 * MS, T0 + 3 * MS + 10, True, False, False, False)
    assert stats.consecutive_failures == 0 and stats.successful_ticks == 2
    stats.restarts += 1
    assert stats.snapshot()["restarts"] == 1


def test_health_follows_state_failures_and_recent_deadline_misses() -> None:
    stats = NodeStats("arm", 100.0, "restart")
    assert stats.state == "created" and stats.health() == "starting"
    stats.started()
    assert stats.health() == "healthy"
    end = T0 + 2 * MS
    stats.record_tick(T0, end, True, True, False, False)
    assert stats.health(end + 1_000 * MS) == "warning"
    assert stats.health(end + 6_000 * MS) == "healthy"
    stats.record_error("RuntimeError: x")
    assert stats.health(end + 6_000 * MS) == "unhealthy"
    for state, health in [("suspended", "unhealthy"), ("restarting", "unhealthy"), ("failed", "failed"),
                          ("stopped", "stopped"), ("initializing", "unhealthy")]:  # fmt: skip
        stats.set_state(state)
        assert (stats.state, stats.health(end + 6_000 * MS)) == (state, health)
    with pytest.raises(ValueError, match="unknown node state 'paused'"):
        stats.set_state("paused")


def test_a_reader_thread_never_sees_half_a_tick() -> None:
    stats = NodeStats("arm", 1000.0, "skip")
    stats.started()
    torn: list[dict[str, object]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            snap = stats.snapshot()
            n = snap["total_ticks"]
            # Odd ticks fail and take 2 us, even ones succeed and take 1 us: every field must agree on n.
            expect_ms = ((n + 1) // 2 * 1000 + n // 2 * 2000) / n / 1e6 if n else 0.0
            if snap["successful_ticks"] != (n + 1) // 2 or snap["avg_tick_duration_ms"] != expect_ms:
                torn.append(snap)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200_000):
            ok = i % 2 == 0
            stats.record_tick(T0 + i * MS, T0 + i * MS + (1000 if ok else 2000), ok, False, False, False)
    finally:
        done.set()
        thread.join()
    assert torn == []


def test_the_registry_shows_each_tick_to_another_process(ns: str, py: Py) -> None:
    stats = NodeStats("arm", 250.0, "fatal")
    publisher = registry.Publisher("arm-sched", 1)
    try:
        publisher.attach(0, stats)
        (node,) = json.loads(py.run(READ_REGISTRY).stdout)
        assert (node["node"], node["scheduler"], node["state"], node["health"]) == (
            "arm",
            "arm-sched",
            "created",
            "starting",
        )
        stats.started()
        for i, d in enumerate([4000, 2000, 6000]):
            stats.record_tick(T0 + i * 4 * MS, T0 + i * 4 * MS + d, True, i == 2, i == 1, False)
        stats.record_error("OSError: lost the arm")
        (node,) = json.loads(py.run(READ_REGISTRY).stdout)
        assert node["state"] == "running" and node["health"] == "unhealthy"
        assert (node["total_ticks"], node["errors_count"], node["deadline_misses"], node["budget_overruns"]) == (
            3,
            1,
            1,
            1,
        )
        assert (node["last_tick_ms"], node["avg_tick_ms"], node["max_tick_ms"]) == (0.006, 0.004, 0.006)
        assert node["rate_hz"] == 250.0 and node["actual_rate_hz"] == 250.0
        assert node["age_s"] is not None and node["age_s"] >= 0
        stats.set_state("stopped")
        (node,) = json.loads(py.run(READ_REGISTRY).stdout)
        assert (node["state"], node["health"]) == ("stopped", "stopped")
    finally:
        publisher.close()
    assert json.loads(py.run(READ_REGISTRY).stdout) == []
    stats.record_tick(T0 + 20 * MS, T0 + 21 * MS, True, False, False, False)  # detached: in-process only
    assert stats.total_ticks == 4


def test_the_typed_state_names_are_the_native_cores() -> None:
    assert get_args(NodeStateName) == _core.STATES
    assert get_args(HealthName) == _core.HEALTHS
