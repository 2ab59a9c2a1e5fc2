"""The demo's nodes do their jobs: the model finds the obstacle, the plan avoids it, the motor loop leaks nothing."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from conftest import require_app


@pytest.fixture(autouse=True)
def _app() -> None:
    require_app()


@pytest.mark.parametrize("seq", [0, 40, 123, 500])
def test_model_finds_the_obstacle_the_camera_drew(seq: int) -> None:
    import numpy as np
    from nodes.camera import obstacle_at, render
    from nodes.inference import build_model, detect
    from nodes.topics import FRAME_SHAPE

    frame = np.zeros(FRAME_SHAPE, dtype=np.uint8)
    rows, cols = np.mgrid[0 : FRAME_SHAPE[0], 0 : FRAME_SHAPE[1]]
    render(frame, seq, rows, cols)
    row, col, confidence = detect(build_model(), frame)
    want_row, want_col = obstacle_at(seq)
    assert abs(row - want_row) < 1.5 and abs(col - want_col) < 1.5
    assert confidence > 0.2


@pytest.mark.parametrize("obstacle", [[0.5, 0.5, 0.12], [0.45, 0.3, 0.12], [0.7, 0.6, 0.1], None])
def test_planned_path_keeps_clear_of_the_obstacle(obstacle: list[float] | None) -> None:
    from nodes.planner import GOAL, START, clearance, plan

    obstacles = [obstacle] if obstacle else []
    path = plan(obstacles)
    assert path[0].tolist() == pytest.approx(START.tolist())
    assert path[-1].tolist() == pytest.approx(GOAL.tolist())
    assert clearance(path, obstacles) > 0.0


def test_motor_loop_runs_with_gc_off_and_leaks_nothing(ns: str) -> None:
    import horus
    from nodes.motor import make_motor

    motor = make_motor()
    sched = horus.Scheduler(tick_rate=1000, name="motor-test").add(motor)
    seen: dict[str, object] = {}
    tracemalloc.start()
    try:
        sched.on_ready(lambda: seen.setdefault("gc", gc.isenabled()))
        sched.run(duration=0.4)  # warm up: topics, status dict, caches
        before = tracemalloc.take_snapshot()
        sched2 = horus.Scheduler(tick_rate=1000, name="motor-test-2").add(make_motor())
        sched2.run(duration=1.0)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert seen["gc"] is False  # init disabled it for the loop
    grown = sum(
        stat.size_diff
        for stat in after.compare_to(before, "filename")
        if stat.traceback[0].filename.endswith("nodes/motor.py")
    )
    assert grown < 4096, f"motor.py kept {grown} bytes over a second of 1 kHz ticks"
    ticks = sched2.get_node_stats("motor")["total_ticks"]
    assert ticks >= 500  # about 1000 on an idle machine
