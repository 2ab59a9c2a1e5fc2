"""A soak's report: a table per service and per node (Markdown, printed and written), the same as
JSON for tools, and a PNG of RSS and tick time over the run (matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .analysis import MB, SoakResult


def render_markdown(image: str, host: str, result: SoakResult) -> str:
    lines = [
        f"# Soak of {image} on {host}: {result.seconds / 60:.1f} min, {result.samples} samples",
        "",
        "| service | nodes | RSS start MB | RSS end MB | slope MB/h | restarts | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result.services:
        verdict = f"LEAKING (> {result.leak_mb_per_hour:g} MB/h)" if s.leaking else "ok"
        lines.append(
            f"| {s.unit} | {', '.join(s.nodes) or '-'} | {s.rss_start_mb} | {s.rss_end_mb} | "
            f"{s.slope_mb_per_hour} | {s.restarts} | {verdict} |"
        )
    lines += [
        "",
        "| node | tick p50 ms | tick p99 ms | tick max ms | deadline misses | errors |",
        "|---|---|---|---|---|---|",
    ]
    for n in result.nodes:
        lines.append(
            f"| {n.node} | {n.tick_p50_ms} | {n.tick_p99_ms} | {n.tick_max_ms} | {n.deadline_misses} | {n.errors} |"
        )
    return "\n".join(lines) + "\n"


def render_json(image: str, host: str, result: SoakResult) -> str:
    doc = {"image": image, "host": host, **asdict(result), "leaking": [s.unit for s in result.leaking]}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def plot(samples: Sequence[dict[str, Any]], units: Sequence[str], title: str, path: Path) -> None:
    """RSS of each service and tick time of each node over the run, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a CI runner
    import matplotlib.pyplot as plt

    fig, (mem, ticks) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for unit in units:
        points = [(s["t"] / 60, s["units"][unit]["rss"] / MB) for s in samples if s["units"].get(unit, {}).get("rss")]
        mem.plot([p[0] for p in points], [p[1] for p in points], label=unit)
    mem.set_ylabel("RSS (MB)")
    mem.legend(loc="upper left", fontsize="small")
    names = sorted({n["node"] for s in samples for n in s["nodes"]})
    for name in names:
        points = [(s["t"] / 60, n["last_tick_ms"]) for s in samples for n in s["nodes"] if n["node"] == name]
        ticks.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ticks.set_ylabel("tick time (ms)")
    ticks.set_xlabel("minutes")
    ticks.legend(loc="upper left", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
