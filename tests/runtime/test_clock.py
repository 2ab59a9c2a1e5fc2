"""The framework clock, deterministic runs, stepping, and upstream's names for them."""

from __future__ import annotations

import importlib
import time

import horus
import pytest


def record_run() -> list[tuple[int, float, float, float, float]]:
    seen: list[tuple[int, float, float, float, float]] = []

    def tick(node: horus.Node) -> None:
        seen.append((horus.tick(), horus.now(), horus.elapsed(), horus.dt(), horus.rng_float()))

    horus.run(horus.Node(name="sim", tick=tick, rate=50), duration=10, deterministic=True)
    return seen


def test_a_deterministic_run_is_the_same_every_time_on_virtual_time(ns: str) -> None:
    first, second = record_run(), record_run()
    assert first == second and len(first) == 500  # 10 s of virtual time at 50 Hz
    ticks, nows, elapsed, dts, draws = zip(*first, strict=True)
    assert list(ticks) == list(range(500)) and set(dts) == {0.02}
    assert [round(t, 9) for t in elapsed] == [round(i * 0.02, 9) for i in range(500)] and nows[0] == 0.0
    assert len(set(draws)) == 500 and all(0 <= d < 1 for d in draws)


def test_outside_a_tick_the_clock_is_monotonic_and_neutral() -> None:
    assert (horus.dt(), horus.elapsed(), horus.tick(), horus.budget_remaining()) == (0.0, 0.0, 0, float("inf"))
    assert 0 < horus.now() <= horus.now() and horus.timestamp_ns() > 0
    assert horus.time_now is horus.now and horus.get_timestamp_ns is horus.timestamp_ns


def test_budget_remaining_counts_down_within_a_tick(ns: str) -> None:
    left: list[float] = []
    node = horus.Node(name="m", tick=lambda n: left.append(horus.budget_remaining()), rate=100, budget=0.005)
    horus.run(node, duration=0.1)
    assert left and all(0 <= x <= 0.005 for x in left)


def test_tick_once_tick_for_current_tick_and_remove_node(ns: str) -> None:
    events: list[str] = []

    def node(name: str) -> horus.Node:
        return horus.Node(
            name=name, rate=100, tick=lambda n: events.append(name),
            init=lambda n: events.append(f"init {name}"), shutdown=lambda n: events.append(f"shutdown {name}"),
        )  # fmt: skip

    sched = horus.Scheduler(deterministic=True).add(node("a")).add(node("b"))
    sched.tick_once()
    assert events == ["init a", "init b", "a", "b"] and sched.current_tick() == 1
    sched.tick_for(0.1, ["b"])  # b only, no shutdown: tick_once took the period at 0, these are 10..90 ms
    assert events[4:] == ["b"] * 9 and sched.current_tick() == 10
    assert sched.remove_node("b") and not sched.remove_node("b") and events[-1] == "shutdown b"
    with sched:
        sched.tick_once()
    assert events[-2:] == ["a", "shutdown a"] and sched.node_names() == ["a"]
    events.clear()
    sched.tick_once()
    sched.run(duration=0.05)  # goes on from the stepped state: init ran once
    assert events == ["init a", "a", "a", "a", "a", "a", "shutdown a"]


def test_set_node_rate_changes_the_period_and_default_deadline(ns: str) -> None:
    ticks: list[float] = []
    sched = horus.Scheduler(deterministic=True).add(horus.Node(name="n", tick=lambda n: ticks.append(horus.dt())))
    sched.set_node_rate("n", 10)
    sched.run(duration=1)
    assert ticks == [0.1] * 10
    with pytest.raises(horus.NodeNotFoundError):
        sched.set_node_rate("missing", 10)


def test_rate_keeps_a_loop_at_its_frequency() -> None:
    rate = horus.Rate(200)
    for _ in range(20):
        rate.sleep()
    assert rate.target_hz() == 200 and rate.period() == 0.005 and rate.actual_hz() > 100
    with pytest.raises(ValueError, match="positive frequency"):
        horus.Rate(0)


def test_upstream_types_and_module_layout() -> None:
    native = importlib.import_module("horus._horus")
    cfg = native.SchedulerConfig.with_watchdog().rate(500.0).cpu_affinity([0])
    assert (cfg.tick_rate, cfg.watchdog_timeout_ms, cfg.cpu_cores) == (500.0, 500, [0]) and "Watchdog" in repr(cfg)
    assert native.SchedulerConfig.minimal().watchdog_timeout_ms == 0
    sched = horus.Scheduler(config=cfg)
    assert (sched.tick_rate, sched.watchdog_ms, sched.max_deadline_misses) == (500.0, 500, 100)
    assert native.Priority.from_string("HIGH") == 10 and native.Priority.to_string(7) == "custom(7)"
    assert native.NodeState("running") == "running" and repr(native.NodeState.ERROR) == "NodeState('error')"
    assert "HORUS" in native.get_version() and horus.__version__ in horus.get_version()
    assert issubclass(horus.NodeNotFoundError, horus.HorusNotFoundError)
    assert issubclass(horus.HorusTimeoutError, TimeoutError)
    with pytest.warns(RuntimeWarning, match=r"Scheduler\(net=True\) is not provided"):
        horus.Scheduler(net=True)


def test_tick_for_returns_with_no_compute_tick_still_running(ns: str) -> None:
    running: list[int] = []

    def slow(node: horus.Node) -> None:
        running.append(1)
        time.sleep(0.05)
        running.pop()

    sched = horus.Scheduler().add(horus.Node(name="plan", tick=slow, rate=100, compute=True))
    with sched:
        sched.tick_for(0.12)
        assert not running and sched.get_node_stats("plan")["total_ticks"] >= 2
