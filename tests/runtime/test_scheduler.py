"""The scheduler as a robot uses it: rates, stats while running, failure policies, signals."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

import horus
import pytest
from horus import _core
from horus.messaging import namespace
from horus_procs import Py, wait_line


def background(sched: horus.Scheduler, duration: float | None = None) -> threading.Thread:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            sched.run(duration)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_the_seed_code_runs_and_stats_are_readable_while_running(ns: str) -> None:
    seen: list[object] = []

    def sensor_tick(node: horus.Node) -> None:
        node.send("cmd_vel", {"v": 0.5, "tick": node.tick_count})

    def motor_tick(node: horus.Node) -> None:
        cmd = node.recv("cmd_vel")
        if cmd is not None:
            seen.append(cmd)

    sensor = horus.Node(name="sensor", tick=sensor_tick, rate=200, pubs=["cmd_vel"], failure_policy="fatal")
    motor = horus.Node(name="motor", tick=motor_tick, rate=1000, subs=["cmd_vel"], failure_policy="fatal")
    sched = horus.Scheduler(tick_rate=1000)
    sched.add(sensor).add(motor)
    thread = background(sched)
    wait_for(lambda: sched.is_running() and sched.get_node_stats("motor")["total_ticks"] > 200)
    stats = sched.get_node_stats("sensor")  # from another thread, while running
    for key in (
        "name",
        "total_ticks",
        "successful_ticks",
        "failed_ticks",
        "errors_count",
        "avg_tick_duration_ms",
        "min_tick_duration_ms",
        "max_tick_duration_ms",
        "last_tick_duration_ms",
        "uptime_seconds",
        "messages_sent",
        "messages_received",
        "deadline_misses",
    ):
        assert key in stats
    assert stats["name"] == "sensor" and stats["total_ticks"] > 0 and stats["messages_sent"] > 0
    safety = sched.safety_stats()
    assert safety["state"] == "running" and safety["nodes"]["motor"] in ("healthy", "warning")
    for key in ("budget_overruns", "deadline_misses", "watchdog_expirations"):
        assert key in safety
    sched.stop()
    thread.join(5)
    assert not thread.is_alive() and not thread.errors  # type: ignore[attr-defined]
    assert seen and seen[0] == {"v": 0.5, "tick": 0}
    motor_stats = sched.get_node_stats("motor")
    assert motor_stats["messages_received"] == len(seen)
    # 1 kHz for the run's length, within a loose bound (no timing assertion beyond "it ticked at rate")
    assert motor_stats["total_ticks"] > 5 * sched.get_node_stats("sensor")["total_ticks"] * 0.5


def test_unknown_node_name_is_a_clear_error() -> None:
    sched = horus.Scheduler().add(horus.Node(name="camera", tick=lambda n: None))
    with pytest.raises(horus.NodeNotFoundError, match=r"no node named 'lidar'.*camera"):
        sched.get_node_stats("lidar")


def test_fatal_stops_the_scheduler_runs_shutdown_and_raises(ns: str) -> None:
    calls: list[str] = []

    def bad(node: horus.Node) -> None:
        if node.tick_count == 3:
            raise RuntimeError("motor timeout")

    good = horus.Node(name="good", tick=lambda n: None, shutdown=lambda n: calls.append("good"), rate=100)
    motor = horus.Node(
        name="motor", tick=bad, shutdown=lambda n: calls.append("motor"), rate=100, failure_policy="fatal"
    )
    with pytest.raises(horus.NodeFailedError, match=r"motor.*motor timeout"):
        horus.run(good, motor, duration=5)
    assert sorted(calls) == ["good", "motor"]


def test_fatal_exits_the_process_non_zero(ns: str, py: Py) -> None:
    result = py.run("""
import horus
def tick(node):
    raise ValueError("sensor unplugged")
horus.run(horus.Node(name="cam", tick=tick, rate=50, failure_policy="fatal"), duration=5)
""")
    assert result.returncode == 1
    assert "sensor unplugged" in result.stderr and "NodeFailedError" in result.stderr


def test_restart_reruns_init_with_backoff_then_gives_up(ns: str) -> None:
    inits: list[float] = []

    def init(node: horus.Node) -> None:
        inits.append(time.monotonic())

    def tick(node: horus.Node) -> None:
        raise OSError("camera disconnected")

    policy = horus.FailurePolicy(kind="restart", max_restarts=3, initial_backoff=0.02)
    node = horus.Node(name="cam", tick=tick, init=init, rate=100, failure_policy=policy)
    sched = horus.Scheduler().add(node)
    with pytest.raises(horus.NodeFailedError):
        sched.run(duration=10)
    assert len(inits) == 4  # first init + 3 restarts
    gaps = [b - a for a, b in itertools.pairwise(inits)]
    assert gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5  # backoff doubles
    assert sched.get_node_stats("cam")["restarts"] == 3


def test_restart_recovers_a_node_whose_init_fixes_it(ns: str) -> None:
    state = {"ok": False, "inits": 0}

    def init(node: horus.Node) -> None:
        state["inits"] += 1
        state["ok"] = state["inits"] >= 2

    def tick(node: horus.Node) -> None:
        if not state["ok"]:
            raise OSError("not connected")

    node = horus.Node(
        name="cam",
        tick=tick,
        init=init,
        rate=200,
        failure_policy=horus.FailurePolicy(kind="restart", initial_backoff=0.01),
    )
    sched = horus.Scheduler().add(node)
    sched.run(duration=0.5)
    stats = sched.get_node_stats("cam")
    assert state["inits"] == 2 and stats["successful_ticks"] > 10 and stats["errors_count"] == 1


def test_skip_suspends_after_consecutive_failures_then_retries(ns: str) -> None:
    calls: list[float] = []

    def tick(node: horus.Node) -> None:
        calls.append(time.monotonic())
        raise RuntimeError("bad frame")

    policy = horus.FailurePolicy(kind="skip", max_failures=3, cooldown=0.3)
    other = horus.Node(name="other", tick=lambda n: None, rate=100)
    node = horus.Node(name="det", tick=tick, rate=100, failure_policy=policy)
    sched = horus.Scheduler().add(other).add(node)
    thread = background(sched)
    wait_for(lambda: len(calls) >= 3)
    time.sleep(0.1)
    assert len(calls) == 3 and sched.safety_stats()["nodes"]["det"] == "unhealthy"
    assert sched.get_node_stats("det")["state"] == "suspended"
    wait_for(lambda: len(calls) >= 4)  # retried after the cooldown
    assert calls[3] - calls[2] >= 0.25
    assert sched.get_node_stats("other")["total_ticks"] > 20  # the others kept running
    sched.stop()
    thread.join(5)


def test_ignore_counts_errors_and_keeps_ticking(ns: str) -> None:
    def tick(node: horus.Node) -> None:
        if node.tick_count % 2:
            raise KeyError("flaky")

    sched = horus.Scheduler().add(horus.Node(name="log", tick=tick, rate=200, failure_policy="ignore"))
    sched.run(duration=0.3)
    stats = sched.get_node_stats("log")
    assert stats["errors_count"] >= 10 and stats["successful_ticks"] >= 10
    assert stats["failed_ticks"] == stats["errors_count"]


def test_on_error_is_a_notification_then_the_policy_applies(ns: str) -> None:
    handled: list[str] = []
    node = horus.Node(
        name="n",
        tick=lambda n: 1 / 0,
        rate=100,
        failure_policy="fatal",
        on_error=lambda node, exc: handled.append(type(exc).__name__),
    )
    sched = horus.Scheduler().add(node)
    with pytest.raises(horus.NodeFailedError, match="ZeroDivisionError"):
        sched.run(duration=5)
    assert handled == ["ZeroDivisionError"]


def test_a_node_without_a_policy_logs_the_error_and_keeps_ticking(ns: str, capfd: pytest.CaptureFixture[str]) -> None:
    def tick(node: horus.Node) -> None:
        if node.tick_count == 2:
            raise ValueError("one bad frame")

    node = horus.Node(name="cam", tick=tick, rate=100)
    sched = horus.Scheduler(deterministic=True).add(node)
    sched.run(duration=0.5)  # does not raise: upstream HORUS's default
    stats = sched.get_node_stats("cam")
    assert stats["errors_count"] == 1 and stats["successful_ticks"] == 49 and node.failure_policy is None
    assert "[ERROR] cam: tick failed: ValueError: one bad frame" in capfd.readouterr().err


def test_under_systemd_a_node_without_a_policy_is_flagged(ns: str, py: Py, monkeypatch: pytest.MonkeyPatch) -> None:
    code = """
import horus
horus.run(horus.Node(name="cam", tick=lambda n: None), horus.Node(name="motor", failure_policy="fatal"), duration=0.05)
"""
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef")  # what systemd sets for every unit it starts
    result = py.run(code)
    assert result.returncode == 0 and "[WARNING] cam: no failure_policy" in result.stderr
    assert "motor: no failure_policy" not in result.stderr
    monkeypatch.delenv("INVOCATION_ID")
    assert "no failure_policy" not in py.run(code).stderr


def test_a_slow_compute_node_does_not_delay_a_fast_node(ns: str) -> None:
    def planner(node: horus.Node) -> None:
        time.sleep(0.2)  # stands for a scipy solve that releases the GIL

    fast = horus.Node(name="motor", tick=lambda n: None, rate=500)
    slow = horus.Node(name="planner", tick=planner, rate=10, compute=True)
    sched = horus.Scheduler().add(fast).add(slow)
    sched.run(duration=1.0)
    motor = sched.get_node_stats("motor")
    assert motor["total_ticks"] >= 350  # 500 expected; a blocking planner would allow ~5
    assert sched.get_node_stats("planner")["total_ticks"] >= 3


def test_async_tick_init_and_shutdown(ns: str) -> None:
    import asyncio

    events: list[str] = []

    async def init(node: horus.Node) -> None:
        await asyncio.sleep(0)
        events.append("init")

    async def tick(node: horus.Node) -> None:
        await asyncio.sleep(0.001)
        node.send("http.status", {"ok": True})

    async def shutdown(node: horus.Node) -> None:
        events.append("shutdown")

    sub = horus.Topic("http.status")
    horus.run(
        horus.Node(name="api", tick=tick, init=init, shutdown=shutdown, rate=50, pubs=["http.status"]),
        duration=0.3,
    )
    assert events == ["init", "shutdown"] and sub.recv() == {"ok": True}


def test_sigterm_stops_cleanly_runs_shutdown_releases_segments_exits_0(ns: str, py: Py, tmp_path: Path) -> None:
    marker = tmp_path / "shutdown-ran"
    proc = py.start(f"""
import horus
def tick(node):
    node.send("motor.status", {{"t": node.tick_count}})
    if node.tick_count == 5:
        print("ticking", flush=True)
def shutdown(node):
    open({str(marker)!r}, "w").write("yes")
horus.run(horus.Node(name="motor", tick=tick, shutdown=shutdown, rate=100, pubs=["motor.status"]))
""")
    wait_line(proc, "ticking")
    seg = namespace.topics_dir(ns) / namespace.topic_file("motor.status")
    assert _core.segment_in_use(str(seg))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert marker.read_text() == "yes"
    assert not _core.segment_in_use(str(seg))


def test_a_real_time_run_gives_the_thread_back_as_it_found_it(ns: str, py: Py) -> None:
    # In a child: SCHED_FIFO and pinning while the loop runs, the thread as before once run() returns
    # (a process that went on busy at SCHED_FIFO would starve the rest of its machine's cores).
    code = """
import json, os, horus
def placed():
    return os.sched_getscheduler(0), sorted(os.sched_getaffinity(0))
before, during = placed(), []
sched = horus.Scheduler(rt=True, cores=[0])
sched.add(horus.Node(name="m", tick=lambda n: during.append(placed()), rate=100))
sched.run(duration=0.05)
print(json.dumps({"before": before, "during": during[0], "after": placed()}))
"""
    import json

    done = py.run(code)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["after"] == seen["before"] and seen["before"][0] == os.SCHED_OTHER
    if os.geteuid() == 0:  # granted here, so it really changed
        assert seen["during"] == [os.SCHED_FIFO, [0]]


def test_rt_says_what_it_obtained(ns: str, py: Py) -> None:
    # As root on this host both are granted; as an unprivileged user both are refused, loudly.
    code = """
import json, os, horus
if os.environ.get("DROP"):
    os.setgid(65534); os.setuid(65534)
sched = horus.Scheduler(rt=True).add(horus.Node(name="m", tick=lambda n: None, rate=100))
sched.run(duration=0.05)
print(json.dumps({**sched.safety_stats()["rt"], "capabilities": sched.capabilities()}))
"""
    import json

    granted = py.run(code)
    assert granted.returncode == 0, granted.stderr
    rt = json.loads(granted.stdout)
    if os.geteuid() == 0:
        assert rt["sched_fifo"] and rt["memory_locked"] and not rt["problems"]
        assert rt["capabilities"]["rt_priority_available"] and rt["capabilities"]["max_rt_priority"] == 99
        os.environ["DROP"] = "1"
        try:
            refused = py.run(code)
        finally:
            del os.environ["DROP"]
        rt = json.loads(refused.stdout)
        assert not rt["sched_fifo"] and "CAP_SYS_NICE" in refused.stderr
        assert not rt["capabilities"]["rt_priority_available"]  # upstream's capabilities() says so beforehand
    else:
        assert rt["problems"] or (rt["sched_fifo"] and rt["memory_locked"])
