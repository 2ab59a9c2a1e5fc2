"""`horus fleet status` as text: one aligned row per robot (per app, where a robot has several).

Plain text, the same on a terminal and in CI logs; a robot that did not answer keeps its row and
says why, so a fleet of N robots always prints N rows or more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .status import App, RobotStatus

COLUMNS = (
    "robot",
    "image",
    "current",
    "previous",
    "state",
    "units",
    "health",
    "errors",
    "misses",
    "restarts",
    "disk free",
    "deployed",
)
RIGHT = {"errors", "misses", "restarts", "disk free"}


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"


def ago(then: float | None, now: float) -> str:
    """How long ago, in the largest unit that fits: 45s, 12m, 3h, 2d."""
    if then is None:
        return "-"
    seconds = max(0.0, now - then)
    for size, unit, below in ((1, "s", 60), (60, "m", 3600), (3600, "h", 86400)):
        if seconds < below:
            return f"{seconds // size:.0f}{unit} ago"
    return f"{seconds // 86400:.0f}d ago"


def units_cell(app: App) -> str:
    if app.units_error:
        return f"? ({app.units_error})"
    bad = [
        f"{u.name.removeprefix(app.name + '-').removesuffix('.service')}:{u.state.split('/')[0]}"
        for u in app.units
        if not u.active
    ]
    up = len(app.units) - len(bad)
    return f"{up}/{len(app.units)} active" + (f" ({', '.join(bad)})" if bad else "")


def health_cell(app: App) -> str:
    if app.health is None:
        return "no answer"
    sick = [n.name for n in app.nodes if n.health != "healthy"]
    return str(app.health) + (f" ({', '.join(sick)})" if sick else "")


def rows(robot: RobotStatus, now: float) -> list[list[str]]:
    if robot.error is not None:
        return [[robot.host, f"NO ANSWER: {robot.error}"]]
    if not robot.apps:
        return [[robot.host, "no HORUS app installed", *["-"] * 8, human_bytes(robot.disk_free), "-"]]
    return [
        [
            robot.host,
            app.image or "?",
            app.current or "-",
            app.previous or "-",
            app.state + (f", HELD ({'; '.join(app.holds)})" if app.holds else ""),
            units_cell(app),
            health_cell(app),
            "?" if app.monitor_error else str(app.errors),
            "?" if app.monitor_error else str(app.deadline_misses),
            str(app.restarts),
            human_bytes(robot.disk_free),
            ago(app.deployed_at, now),
        ]
        for app in robot.apps
    ]


def render(robots: Sequence[RobotStatus], now: float | None = None) -> str:
    """The table, then a summary line (how many answered, how many are healthy)."""
    now = time.time() if now is None else now
    body = [r for robot in robots for r in rows(robot, now)]
    full = [list(COLUMNS), *(r for r in body if len(r) == len(COLUMNS))]
    widths = [max(len(r[i]) for r in full) for i in range(len(COLUMNS))]
    lines = []
    for r in [list(COLUMNS), *body]:
        if len(r) != len(COLUMNS):  # a robot without answer: its reason runs across the row
            lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
            continue
        cells = (c.rjust(w) if name in RIGHT else c.ljust(w) for c, w, name in zip(r, widths, COLUMNS, strict=True))
        lines.append("  ".join(cells).rstrip())
    answered = sum(r.answered for r in robots)
    healthy = sum(r.healthy for r in robots)
    lines.append(f"{len(robots)} robot(s): {answered} answered, {healthy} healthy, {len(robots) - answered} no answer")
    return "\n".join(lines)
