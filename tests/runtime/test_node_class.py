"""Nodes as upstream HORUS users write them: subclasses, event-triggered ticks, deadline-miss policies, pinning."""

from __future__ import annotations

import os
import time
from typing import Any

import horus
import pytest
from horus_procs import Py


class WithInfo(horus.Node):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, rate=100, pubs=["arm.cmd"], subs=["arm.state"], failure_policy="fatal")
        self.calls: list[Any] = []

    def init(self, info: horus.NodeInfo | None = None) -> None:
        self.calls.append(("init", info.name if info else None))

    def tick(self, info: horus.NodeInfo | None = None) -> None:
        assert info is not None and self.info is info
        self.calls.append(info.tick_count())

    def shutdown(self, info: horus.NodeInfo | None = None) -> None:
        self.calls.append("shutdown")


class WithoutInfo(horus.Node):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, rate=100)
        self.calls: list[Any] = []

    def init(self) -> None:
        self.calls.append(("init", None))

    def tick(self) -> None:
        self.calls.append(self.tick_count)

    def shutdown(self) -> None:
        self.calls.append("shutdown")


def test_subclasses_tick_like_function_nodes_with_or_without_info(ns: str) -> None:
    counted: list[int] = []
    func = horus.Node(name="func", tick=lambda n: counted.append(n.tick_count), rate=100)
    with_info, without = WithInfo("with"), WithoutInfo("without")
    horus.run(func, with_info, without, duration=0.5, deterministic=True)
    assert counted == list(range(50))
    assert with_info.calls == [("init", "with"), *range(50), "shutdown"]
    assert without.calls == [("init", None), *range(50), "shutdown"]
    assert with_info.info is None  # only set while a callback runs


def test_node_settings_read_back_as_upstream_returns_them() -> None:
    node = WithInfo("arm")
    assert node.failure_policy == "fatal" and horus.Node(name="n").failure_policy is None
    assert node.pub_topics == ["arm.cmd"] and node.sub_topics == ["arm.state"]
    pinned = horus.Node(name="p", tick=lambda n: None, priority=80, core=0, on_miss=horus.Miss.SAFE_MODE, budget=1e-3)
    settings = (pinned.priority, pinned.core, pinned.on_miss, pinned.budget, pinned.deadline)
    assert settings == (80, 0, "safe_mode", 1e-3, None)
    with pytest.raises(ValueError, match="on_miss='later' is not one of warn, skip, safe_mode, stop"):
        horus.Node(name="n", on_miss="later")
    with pytest.raises(ValueError, match="mutually exclusive"):
        horus.Node(name="n", compute=True, on="scan")


def test_a_subclass_that_skips_super_init_is_told_so() -> None:
    class Broken(horus.Node):
        def __init__(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"Broken.__init__ must call super\(\).__init__"):
        horus.Scheduler().add(Broken())


def test_logging_outside_a_callback_warns_and_still_writes(ns: str, capfd: pytest.CaptureFixture[str]) -> None:
    node = horus.Node(name="arm")
    with pytest.warns(RuntimeWarning, match="outside scheduler"):
        node.log_info("before run")
    assert "[INFO] arm: before run" in capfd.readouterr().err


def test_on_topic_ticks_once_per_message_from_another_process(ns: str, py: Py) -> None:
    got: list[int] = []

    def tick(node: horus.Node) -> None:
        got.append(node.recv("scan")["seq"])
        if len(got) == 5:
            node.request_stop()

    # rate=1: ticking on the period would give one tick in the whole run
    node = horus.Node(name="planner", tick=tick, rate=1, on="scan", failure_policy="fatal")
    assert node.sub_topics == ["scan"]
    child = py.start("""
import time, horus
topic = horus.Topic("scan")
for seq in range(5):
    topic.send({"seq": seq})
    time.sleep(0.05)
""")
    horus.run(node, duration=20)
    assert child.wait(10) == 0 and got == [0, 1, 2, 3, 4]


class Overrunner(horus.Node):
    def __init__(self, on_miss: str) -> None:
        super().__init__(name="motor", rate=100, deadline=0.002, on_miss=on_miss, failure_policy="fatal")
        self.safe_states = 0

    def tick(self, info: horus.NodeInfo | None = None) -> None:
        time.sleep(0.005)  # 5 ms against a 2 ms deadline

    def enter_safe_state(self) -> None:
        self.safe_states += 1


def test_on_miss_safe_mode_calls_enter_safe_state(ns: str) -> None:
    node = Overrunner(horus.Miss.SAFE_MODE)
    sched = horus.Scheduler().add(node)
    sched.run(duration=0.2)
    misses = sched.safety_stats()["deadline_misses"]
    assert misses > 0 and node.safe_states == misses


def test_on_miss_skip_gives_up_the_next_tick(ns: str) -> None:
    node = Overrunner(horus.Miss.SKIP)
    sched = horus.Scheduler().add(node)
    sched.run(duration=0.5)
    stats = sched.get_node_stats("motor")
    assert stats["deadline_misses"] == stats["total_ticks"] and stats["total_ticks"] <= 27  # 50 without skipping


def test_on_miss_stop_and_max_deadline_misses_stop_the_scheduler(ns: str) -> None:
    with pytest.raises(horus.NodeFailedError, match="missed its deadline and its on_miss is 'stop'"):
        horus.run(Overrunner(horus.Miss.STOP), duration=5)
    sched = horus.Scheduler(max_deadline_misses=3).add(Overrunner(horus.Miss.WARN))
    with pytest.raises(horus.NodeFailedError, match="3 deadline misses reached max_deadline_misses=3"):
        sched.run(duration=5)
    assert sched.get_node_stats("motor")["total_ticks"] == 3


def test_core_pins_the_node_thread(ns: str) -> None:
    seen: list[set[int]] = []
    core = max(os.sched_getaffinity(0))
    node = horus.Node(name="pinned", tick=lambda n: seen.append(os.sched_getaffinity(0)), rate=100, core=core)
    horus.run(node, duration=0.1)
    assert seen and all(cpus == {core} for cpus in seen)
    assert os.sched_getaffinity(0) != {core} or os.cpu_count() == 1  # the caller's thread is left alone


def test_priority_gets_sched_fifo_for_the_node_thread_only(ns: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("SCHED_FIFO needs root or CAP_SYS_NICE")
    seen: list[int] = []
    node = horus.Node(name="rt", tick=lambda n: seen.append(os.sched_getscheduler(0)), rate=100, priority=10)
    horus.run(node, duration=0.1)
    assert seen and set(seen) == {os.SCHED_FIFO} and os.sched_getscheduler(0) == os.SCHED_OTHER


def test_a_critical_node_overrunning_puts_every_node_in_safe_state_and_stops(ns: str) -> None:
    arm, motor = Overrunner(horus.Miss.WARN), Overrunner(horus.Miss.WARN)
    arm.name = "arm"
    sched = horus.Scheduler().add(arm).add(motor)
    sched.add_critical_node("motor", timeout_ms=3)
    with pytest.raises(horus.NodeFailedError, match=r"critical node 'motor' ticked for .* over its 3 ms"):
        sched.run(duration=5)
    assert (arm.safe_states, motor.safe_states) == (1, 1)
    assert sched.get_node_info("motor") == 100 and sched.get_node_info("none") is None
    assert [n["name"] for n in sched.get_all_nodes()] == ["arm", "motor"]


def test_a_topic_declared_with_any_other_python_type_is_a_plain_topic_as_upstream(ns: str) -> None:
    node = horus.Node(name="thermo", pubs={"temperature": float, "imu_data": dict}, subs=["temperature", "imu_data"])
    node.open_topics()
    node.send("temperature", 21.5)
    node.send("imu_data", {"ax": 0.1, "note": "anything plain"})
    assert node.recv("temperature") == 21.5 and node.recv("imu_data") == {"ax": 0.1, "note": "anything plain"}
    node.close_topics()
    with pytest.raises(TypeError, match="must be a type"):
        horus.Node(name="bad", pubs={"temperature": 21.5})


def test_a_topic_declared_with_a_message_class_takes_only_that_class(ns: str) -> None:
    node = horus.Node(name="drive", pubs={"cmd_vel": horus.CmdVel}, subs=["cmd_vel"])
    node.open_topics()
    node.send("cmd_vel", {"linear": 0.5, "angular": 0.1})  # built into a CmdVel
    got = node.recv("cmd_vel")
    assert isinstance(got, horus.CmdVel) and (got.linear, round(got.angular, 6)) == (0.5, 0.1)
    with pytest.raises(TypeError, match="'cmd_vel' carries CmdVel messages, not str"):
        node.send("cmd_vel", "forward")
    with pytest.raises(TypeError, match="cannot build one from"):
        node.send("cmd_vel", {"speed": 1})
    node.close_topics()
