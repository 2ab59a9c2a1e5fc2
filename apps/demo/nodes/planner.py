"""Path planner (scipy): a smooth path across the scene that keeps clear of detected obstacles.

Waypoints are optimised with scipy.optimize (path length plus a clearance penalty), then a
scipy.interpolate cubic spline samples the path the motor controller follows.
"""

from __future__ import annotations

import gc
import itertools
from typing import Any

import horus
import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import minimize

from .topics import CMD_VEL, DETECTIONS, PATH

START = np.array([0.5, 0.0])  # the robot, bottom centre of the scene
GOAL = np.array([0.5, 1.0])  # straight ahead
WAYPOINTS = 4
MARGIN = 0.05
SAMPLES = 20


def plan(obstacles: list[list[float]]) -> np.ndarray:
    """(SAMPLES, 2) points from START to GOAL, each at least radius + MARGIN from every obstacle."""
    straight = np.linspace(START, GOAL, WAYPOINTS + 2)[1:-1]
    circles = np.array(obstacles, dtype=float).reshape(-1, 3)

    def full(x: np.ndarray) -> np.ndarray:
        return np.vstack([START, x.reshape(WAYPOINTS, 2), GOAL])

    def cost(x: np.ndarray) -> float:
        pts = full(x)
        length = float(np.sum(np.diff(pts, axis=0) ** 2))
        if not len(circles):
            return length
        dense = np.vstack([np.linspace(a, b, 4) for a, b in itertools.pairwise(pts)])
        dist = np.linalg.norm(dense[:, None, :] - circles[None, :, :2], axis=2)
        intrusion = np.clip(circles[None, :, 2] + MARGIN - dist, 0.0, None)
        return length + 1e3 * float(np.sum(intrusion**2))

    # Start beside the obstacles so the optimiser does not sit on a symmetric saddle.
    x0 = straight + np.array([0.15, 0.0]) * (1 if not len(circles) or circles[0, 0] < 0.5 else -1)
    result = minimize(
        cost,
        x0.ravel(),
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (2 * WAYPOINTS),
        options={"maxiter": 30, "maxfun": 300},
    )
    pts = full(result.x)
    t = np.linspace(0.0, 1.0, len(pts))
    spline = CubicSpline(t, pts, axis=0)
    return np.asarray(spline(np.linspace(0.0, 1.0, SAMPLES)))


def clearance(path: np.ndarray, obstacles: list[list[float]]) -> float:
    """Smallest distance from the path to an obstacle's edge (inf without obstacles)."""
    if not obstacles:
        return float("inf")
    circles = np.array(obstacles, dtype=float)
    dist = np.linalg.norm(path[:, None, :] - circles[None, :, :2], axis=2) - circles[None, :, 2]
    return float(dist.min())


def make_planner(rate: float = 5.0) -> horus.Node:
    state: dict[str, Any] = {"seq": 0}

    def init(node: horus.Node) -> None:
        gc.set_threshold(1500, 15, 15)
        node.log_info("planner ready (scipy L-BFGS-B + cubic spline)")

    def tick(node: horus.Node) -> None:
        msg = None
        while node.has_msg(DETECTIONS):
            msg = node.recv(DETECTIONS)
        if msg is None:
            return
        path = plan(msg["obstacles"])
        heading = path[1] - path[0]
        node.send(PATH, {"seq": state["seq"], "detection_seq": msg["seq"], "points": path.tolist()})
        # The motor controller's setpoint: forward speed and turn rate from the first leg.
        linear, angular = float(np.linalg.norm(heading)) * SAMPLES * 0.05, float(heading[0]) * 4.0
        node.send(CMD_VEL, horus.CmdVel(linear, angular, horus.timestamp_ns()))  # framework time: replays
        state["seq"] += 1

    # A failed plan keeps the previous path; repeated failures suspend the planner for a while.
    return horus.Node(
        name="planner", tick=tick, init=init, rate=rate, subs=[DETECTIONS], pubs={PATH: {}, CMD_VEL: horus.CmdVel},
        failure_policy="skip", compute=True,
    )  # fmt: skip
