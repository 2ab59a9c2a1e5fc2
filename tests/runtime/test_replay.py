"""Upstream's replay API: a recording's outputs published again on live topics, seeked, paced, overridden."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import horus
import pytest
from horus import HorusNotFoundError
from horus_procs import Py

# A robot recorded in a process of its own: a sensor (an untyped and a typed topic) and a controller.
RECORD = """
import sys, horus

def sense(node):
    node.send("sensor.out", {"seq": node.tick_count})
    node.send("sensor.cmd", horus.CmdVel(float(node.tick_count)))

def control(node):
    msg = node.recv("sensor.out")
    if msg is not None:
        node.send("ctl.out", {"y": 2 * msg["seq"]})

sensor = horus.Node(name="sensor", tick=sense, rate=50, order=0, pubs={"sensor.out": {}, "sensor.cmd": horus.CmdVel})
ctl = horus.Node(name="ctl", tick=control, rate=50, order=1, subs=["sensor.out"], pubs=["ctl.out"])
horus.Scheduler(deterministic=True, name="robot", recording=sys.argv[1]).add(sensor).add(ctl).run(duration=2)
"""

REPLAY_WINDOW = """
import sys, horus
sched = horus.Scheduler.replay_from(sys.argv[1]).start_at_tick(20).stop_at_tick(29).set_replay_speed(5)
assert sched.is_replaying()
sched.run()  # returns by itself once the window is replayed
"""


def recorded(py: Py, directory: Path) -> Path:
    done = py.run(RECORD, str(directory))
    assert done.returncode == 0, done.stderr
    return directory


def controller(seen: list[Any]) -> horus.Node:
    def control(node: horus.Node) -> None:
        msg = node.recv("sensor.out")
        if msg is not None:
            seen.append({"y": 2 * msg["seq"]})

    return horus.Node(name="ctl", tick=control, rate=50, order=1, subs=["sensor.out"])


def test_replay_from_publishes_the_recorded_window_to_another_process(ns: str, py: Py, tmp_path: Path) -> None:
    rec = recorded(py, tmp_path / "rec")
    out, cmd, ctl = horus.Topic("sensor.out"), horus.Topic("sensor.cmd"), horus.Topic("ctl.out")
    done = py.run(REPLAY_WINDOW, str(rec))
    assert done.returncode == 0, done.stderr
    assert [m["seq"] for m in out.recv_all()] == list(range(20, 30))
    assert cmd.recv_all() == [horus.CmdVel(float(seq)) for seq in range(20, 30)]  # still typed
    assert [m["y"] for m in ctl.recv_all()] == list(range(40, 60, 2))


def test_a_live_node_meets_the_recorded_sensor_and_an_override(ns: str, py: Py, tmp_path: Path) -> None:
    rec = recorded(py, tmp_path / "rec")
    seen: list[Any] = []
    horus.Scheduler(deterministic=True).add_replay(rec, node="sensor").add(controller(seen)).run(duration=10)
    recorded_outputs = [r.sent for r in horus.recording.recorder.load(rec) if r.node == "ctl" and r.sent]
    assert [[["ctl.out", horus.messaging.codec.encode_bytes(m)]] for m in seen] == recorded_outputs

    seen.clear()
    sched = horus.Scheduler(deterministic=True).add_replay(rec, node="sensor").add(controller(seen))
    sched.stop_at_tick(4).set_replay_override("sensor", "sensor.out", {"seq": -1}).run(duration=10)
    assert seen == [{"y": -2}] * 5

    with pytest.raises(ValueError, match="already added"):  # the live node is not also replayed
        horus.Scheduler().add_replay(rec).add(controller([]))


def test_recordings_are_listed_and_deleted_by_name(ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORUS_RECORDING_DIR", str(tmp_path))
    (tmp_path / "not-a-recording").mkdir()
    node = horus.Node(name="beat", tick=lambda n: n.send("beat", {}), rate=10)
    horus.Scheduler(deterministic=True, name="robot", recording=True).add(node).run(duration=1)
    assert horus.Scheduler.list_recordings() == ["robot"]
    assert horus.Scheduler.delete_recording("robot") and not horus.Scheduler.delete_recording("robot")
    assert horus.Scheduler.list_recordings() == [] and (tmp_path / "not-a-recording").is_dir()
    with pytest.raises(ValueError, match="a recording's name"):
        horus.Scheduler.delete_recording("../etc")


def test_replay_settings_say_what_is_wrong(ns: str, py: Py, tmp_path: Path) -> None:
    rec = recorded(py, tmp_path / "rec")
    with pytest.raises(RuntimeError, match="call add_replay"):
        horus.Scheduler().start_at_tick(3)
    sched = horus.Scheduler.replay_from(rec)
    with pytest.raises(HorusNotFoundError, match=r"sent on \['ctl.out'\]"):
        sched.set_replay_override("ctl", "sensor.out", {})
    with pytest.raises(HorusNotFoundError, match="no node 'lidar' in the recording"):
        sched.add_replay(rec, node="lidar")
    with pytest.raises(ValueError, match=r"from 0\.01 to 100"):
        sched.set_replay_speed(0)
