"""What a soak's samples say, per service and per node: memory growth (a least-squares slope of
RSS over time, after a warm-up), tick-time percentiles, and the deadline misses, errors and
restarts that happened during the run."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024
WARM_UP = 0.2  # of the run: imports, caches and first allocations are not a leak
MIN_GROWTH_MB = 2.0  # over the analysed window: below this a slope is noise


@dataclass
class ServiceResult:
    unit: str
    nodes: list[str]
    rss_start_mb: float
    rss_end_mb: float
    slope_mb_per_hour: float
    restarts: int
    leaking: bool


@dataclass
class NodeResult:
    node: str
    tick_p50_ms: float
    tick_p99_ms: float
    tick_max_ms: float
    deadline_misses: int
    errors: int


@dataclass
class SoakResult:
    seconds: float
    samples: int
    leak_mb_per_hour: float
    services: list[ServiceResult] = field(default_factory=list)
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def leaking(self) -> list[ServiceResult]:
        return [s for s in self.services if s.leaking]


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _service(unit: str, samples: Sequence[dict[str, Any]], leak: float) -> ServiceResult:
    seen = [(s["t"], s["units"][unit]) for s in samples if unit in s["units"]]
    rss = [(t, u["rss"] / MB) for t, u in seen if u.get("rss") is not None]
    window = [(t / 3600, mb) for t, mb in rss if t >= WARM_UP * samples[-1]["t"]]
    rate = slope(window)
    growth = window[-1][1] - window[0][1] if len(window) > 1 else 0.0
    pids = {u["pid"] for _, u in seen if u.get("pid")}
    nodes = sorted({n["node"] for s in samples for n in s["nodes"] if n.get("pid") in pids})
    restarts = seen[-1][1]["restarts"] - seen[0][1]["restarts"] if seen else 0
    return ServiceResult(
        unit=unit,
        nodes=nodes,
        rss_start_mb=round(rss[0][1], 1) if rss else 0.0,
        rss_end_mb=round(rss[-1][1], 1) if rss else 0.0,
        slope_mb_per_hour=round(rate, 1),
        restarts=restarts,
        leaking=rate > leak and growth > MIN_GROWTH_MB,
    )


def _node(name: str, samples: Sequence[dict[str, Any]]) -> NodeResult:
    entries = [n for s in samples for n in s["nodes"] if n["node"] == name]
    ticks = [n["last_tick_ms"] for n in entries]

    # Counters restart with a restarted process: sum the increases, never a negative step.
    def grown(key: str) -> int:
        values = [n[key] for n in entries]
        return sum(max(0, b - a) for a, b in itertools.pairwise(values))

    return NodeResult(
        node=name,
        tick_p50_ms=round(_percentile(ticks, 0.5), 3),
        tick_p99_ms=round(_percentile(ticks, 0.99), 3),
        tick_max_ms=round(max((n["max_tick_ms"] for n in entries), default=0.0), 3),
        deadline_misses=grown("deadline_misses"),
        errors=grown("errors_count"),
    )


def analyse(samples: Sequence[dict[str, Any]], units: Sequence[str], leak_mb_per_hour: float) -> SoakResult:
    """The soak's findings; a service leaks when its RSS grows faster than `leak_mb_per_hour`."""
    if not samples:
        raise ValueError("no samples: the robot sent nothing")
    result = SoakResult(seconds=samples[-1]["t"], samples=len(samples), leak_mb_per_hour=leak_mb_per_hour)
    result.services = [_service(unit, samples, leak_mb_per_hour) for unit in units]
    names = sorted({n["node"] for s in samples for n in s["nodes"]})
    result.nodes = [_node(name, samples) for name in names]
    return result
