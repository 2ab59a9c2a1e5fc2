"""The flight recorder and replay: bounded on disk, and a replay that gives the same outputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import horus
from horus.messaging import codec
from horus.recording import recorder as recording
from horus_procs import Py
from horus_testing import require

DEMO = Path(__file__).resolve().parents[2] / "apps" / "demo"


def controller(gain: float = 2.0) -> horus.Node:
    state = {"x": 0.0}

    def tick(node: horus.Node) -> None:
        target = node.recv("target")
        if target is not None:
            state["x"] += gain * (target["x"] - state["x"]) * horus.dt() + 0.01 * horus.rng_float()
        node.send("cmd", {"x": state["x"], "t": horus.elapsed(), "tick": horus.tick()})

    return horus.Node(name="ctl", tick=tick, rate=50, subs=["target"], pubs=["cmd"], failure_policy="fatal")


def test_replay_gives_the_recorded_outputs_and_finds_a_changed_node(ns: str, tmp_path: Path) -> None:
    feeder = horus.Node(name="feed", tick=lambda n: n.send("target", {"x": n.tick_count % 7}), rate=20)
    sched = horus.Scheduler(deterministic=True, recording=tmp_path / "rec").add(feeder).add(controller())
    sched.run(duration=2)
    records = recording.load(tmp_path / "rec")
    assert [r.tick for r in records if r.node == "ctl"] == list(range(100))

    assert horus.Scheduler().add(controller()).replay(tmp_path / "rec") == []
    changed = horus.Scheduler().add(controller(gain=2.5)).replay(tmp_path / "rec")
    assert changed and changed[0].node == "ctl" and changed[0].tick > 0  # before any target: same output


def test_a_live_run_replays_its_clock_readings_and_random_draws(ns: str, tmp_path: Path) -> None:
    def tick(node: horus.Node) -> None:
        stamp, noise = horus.timestamp_ns(), horus.rng_float()  # wall clock and system entropy, live
        node.send("cmd", {"stamp": stamp, "noise": noise, "since": horus.elapsed(), "now": horus.now()})

    def stamper() -> horus.Node:
        return horus.Node(name="stamp", tick=tick, rate=100, pubs=["cmd"], failure_policy="fatal")

    horus.Scheduler(recording=tmp_path / "rec").add(stamper()).run(duration=0.3)
    records = recording.load(tmp_path / "rec")
    assert len(records) > 5 and len({codec.decode(r.sent[0][1])["noise"] for r in records}) == len(records)

    assert horus.Scheduler().add(stamper()).replay(tmp_path / "rec") == []


def test_the_recording_stays_within_its_bound_and_keeps_the_newest(tmp_path: Path) -> None:
    rec = recording.Recorder(tmp_path, max_bytes=8 * 1024, segment_bytes=2 * 1024)
    for tick in range(2000):
        tap = recording.TickTap(received=[["scan", {"seq": tick}]], sent=[])
        rec.record("lidar", tick, tick * 1000, tap, None)
    rec.close()
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 8 * 1024 + 2 * 1024
    ticks = [r.tick for r in recording.load(tmp_path)]
    assert ticks[-1] == 1999 and ticks == list(range(ticks[0], 2000)) and ticks[0] > 0


def test_a_torn_last_record_ends_the_replay_cleanly(tmp_path: Path) -> None:
    rec = recording.Recorder(tmp_path)
    for tick in range(3):
        rec.record("n", tick, 0, recording.TickTap(), None)
    rec.close()
    (segment,) = tmp_path.iterdir()
    segment.write_bytes(segment.read_bytes()[:-3])  # power cut in the middle of the last write
    assert [r.tick for r in recording.load(tmp_path)] == [0, 1]


def test_the_demo_planner_recorded_for_10_s_replays_to_the_same_paths(ns: str, py: Py, tmp_path: Path) -> None:
    missing = [m for m in ("torch", "scipy", "numpy") if importlib.util.find_spec(m) is None]
    require(not missing, f"the demo needs {', '.join(missing)}: pip install -r lockfiles/demo-amd64.txt")
    sys.path.insert(0, str(DEMO))
    try:
        from nodes.planner import make_planner
    finally:
        sys.path.remove(str(DEMO))
    # The demo's perception process (camera + torch inference), as its unit runs it, feeds the planner here.
    perception = py.start(f"""
import sys
sys.path.insert(0, {str(DEMO)!r})
import horus
from nodes.camera import make_camera
from nodes.inference import make_inference
horus.run(make_camera(), make_inference(), tick_rate=100, name="perception", duration=15)
""")
    sched = horus.Scheduler(tick_rate=100, name="planner", recording=tmp_path / "rec").add(make_planner())
    sched.run(duration=10)
    perception.kill()
    paths = [r for r in recording.load(tmp_path / "rec") if r.sent]
    assert len(paths) >= 10, f"the planner planned {len(paths)} times in 10 s"

    assert horus.Scheduler().add(make_planner()).replay(tmp_path / "rec") == []
    sent: list[Any] = [codec.decode(r.sent[0][1]) for r in paths]
    assert all(msg["points"][0] == [0.5, 0.0] for msg in sent)  # real plans from START
