"""The soak's verdicts on samples shaped like a robot's: a steady process, a leaking one, restarts
and counters that start again with a restarted process."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from horus_pipeline.soak.analysis import MB, analyse, slope
from horus_pipeline.soak.report import plot, render_json, render_markdown

UNITS = ["fleet-steady.service", "fleet-leaky.service"]


def samples(seconds: int = 120, leak_mb_per_s: float = 0.5) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for t in range(seconds):
        steady = (60 + rng.uniform(-0.5, 0.5)) * MB
        leaky = (40 + leak_mb_per_s * t) * MB
        restarted = t >= seconds // 2
        out.append({
            "t": float(t),
            "units": {
                "fleet-steady.service": {"rss": steady, "restarts": 0, "active": True, "pid": 100},
                "fleet-leaky.service": {"rss": leaky, "restarts": 1 if restarted else 0, "active": True,
                                        "pid": 300 if restarted else 200},
            },
            "nodes": [
                {"node": "motor", "pid": 100, "last_tick_ms": 0.2 + (t % 10) / 100, "max_tick_ms": 1.5,
                 "deadline_misses": t // 30, "errors_count": 0},
                {"node": "hoarder", "pid": 300 if restarted else 200, "last_tick_ms": 0.5, "max_tick_ms": 0.9,
                 # a restarted process counts from zero again: 0..2, then 0..2
                 "deadline_misses": 0, "errors_count": (t - seconds // 2) // 20 if restarted else t // 20},
            ],
        })  # fmt: skip
    return out


def test_a_leaking_service_is_named_with_its_node_and_a_steady_one_is_not() -> None:
    result = analyse(samples(), UNITS, leak_mb_per_hour=20)
    steady, leaky = result.services
    assert not steady.leaking and abs(steady.slope_mb_per_hour) < 20
    assert leaky.leaking and 1700 < leaky.slope_mb_per_hour < 1900  # 0.5 MB/s
    assert leaky.nodes == ["hoarder"] and steady.nodes == ["motor"]
    assert leaky.restarts == 1 and steady.restarts == 0
    assert [s.unit for s in result.leaking] == ["fleet-leaky.service"]


def test_counters_add_up_across_a_restart_and_ticks_give_percentiles() -> None:
    result = analyse(samples(), UNITS, leak_mb_per_hour=20)
    nodes = {n.node: n for n in result.nodes}
    assert nodes["motor"].deadline_misses == 3  # 0 -> 3 over 120 s
    assert nodes["hoarder"].errors == 2 + 2  # 0..2 before the restart, 0..2 again after it
    assert nodes["motor"].tick_p50_ms < nodes["motor"].tick_p99_ms <= 0.3 and nodes["motor"].tick_max_ms == 1.5


def test_a_slow_growth_below_the_threshold_is_not_a_leak() -> None:
    result = analyse(samples(leak_mb_per_s=0.001), UNITS, leak_mb_per_hour=20)  # 3.6 MB/hour
    assert not result.leaking


def test_reports_name_the_leak_and_the_plot_is_a_png(tmp_path: Path) -> None:
    data = samples()
    result = analyse(data, UNITS, leak_mb_per_hour=20)
    text = render_markdown("fleet-amd64", "robot-1", result)
    assert "| fleet-leaky.service | hoarder |" in text and "LEAKING (> 20 MB/h)" in text
    assert json.loads(render_json("fleet-amd64", "robot-1", result))["leaking"] == ["fleet-leaky.service"]
    plot(data, UNITS, "fleet-amd64 on robot-1", tmp_path / "rss.png")
    assert (tmp_path / "rss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_slope_is_least_squares() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == 2
    assert slope([(1, 5)]) == 0
