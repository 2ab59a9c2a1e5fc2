"""Camera driver stand-in: synthetic frames of a bright obstacle drifting across a dark scene."""

from __future__ import annotations

import math
from typing import Any

import horus
import numpy as np

from .topics import CAMERA, CAMERA_TOPIC, FRAME_SHAPE

OBSTACLE_RADIUS = 10  # pixels


def obstacle_at(seq: int) -> tuple[float, float]:
    """Where the obstacle is in frame `seq`, as (row, col) pixels: a slow Lissajous drift."""
    h, w, _ = FRAME_SHAPE
    t = seq / 30.0
    return (h / 2 + 0.3 * h * math.sin(0.7 * t), w / 2 + 0.35 * w * math.sin(0.45 * t))


def render(frame: np.ndarray, seq: int, rows: np.ndarray, cols: np.ndarray) -> None:
    """Draw frame `seq` into `frame` in place."""
    r, c = obstacle_at(seq)
    frame[...] = 20
    # Only the obstacle's bounding box needs the circle test.
    r0, r1 = max(int(r) - OBSTACLE_RADIUS, 0), int(r) + OBSTACLE_RADIUS + 1
    c0, c1 = max(int(c) - OBSTACLE_RADIUS, 0), int(c) + OBSTACLE_RADIUS + 1
    box = (rows[r0:r1, c0:c1] - r) ** 2 + (cols[r0:r1, c0:c1] - c) ** 2 <= OBSTACLE_RADIUS**2
    frame[r0:r1, c0:c1][box] = (230, 200, 40)


def make_camera(rate: float = 30.0) -> horus.Node:
    state: dict[str, Any] = {}

    def init(node: horus.Node) -> None:
        h, w, _ = FRAME_SHAPE
        state["frame"] = np.zeros(FRAME_SHAPE, dtype=np.uint8)
        state["rows"], state["cols"] = np.mgrid[0:h, 0:w]
        state["seq"] = 0
        node.log_info(f"synthetic camera {w}x{h} at {rate:g} Hz")

    def tick(node: horus.Node) -> None:
        seq = state["seq"]
        render(state["frame"], seq, state["rows"], state["cols"])
        node.send(CAMERA, {"seq": seq, "stamp_ns": horus.now_ns(), "frame": state["frame"]})
        state["seq"] = seq + 1

    # A driver hiccup is worth a re-init (re-open the device), not the whole process.
    return horus.Node(name="camera", tick=tick, init=init, rate=rate, pubs=CAMERA_TOPIC, failure_policy="restart")
