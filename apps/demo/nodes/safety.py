"""Safety monitor: watches motor.status and engages an EmergencyStop, saying why (the motor stops on it).

cnodes/safety.c is the same node compiled (the image spec chooses which runs).
"""

from __future__ import annotations

from typing import Any

import horus

from .motor import MAX_WHEEL
from .topics import MOTOR_STATUS, SAFETY

RATE = 200.0
STATUS_TIMEOUT_NS = 100_000_000  # motor.status older than this: the controller is stuck


def assess(status: horus.DifferentialDriveCommand | None, age_ns: int) -> str:
    """ "" when safe, else the reason."""
    if status is None:
        return ""  # nothing moves before the first status: the motor starts stopped
    if age_ns > STATUS_TIMEOUT_NS:
        return f"motor.status is {age_ns / 1e6:.0f} ms old"
    fastest = max(abs(status.left_velocity), abs(status.right_velocity))
    if fastest > MAX_WHEEL * 1.05:
        return f"wheel speed {fastest:.2f} m/s over the {MAX_WHEEL} m/s limit"
    return ""


def make_safety() -> horus.Node:
    state: dict[str, Any] = {"status": None, "seen_ns": 0, "reason": ""}

    def tick(node: horus.Node) -> None:
        now = horus.now_ns()
        while node.has_msg(MOTOR_STATUS):
            state["status"] = node.recv(MOTOR_STATUS)
            state["seen_ns"] = now
        reason = assess(state["status"], now - state["seen_ns"])
        if reason and reason != state["reason"]:
            node.log_warning(f"E-STOP: {reason}")
        state["reason"] = reason
        node.send(SAFETY, horus.EmergencyStop(engaged=bool(reason), reason=reason, timestamp_ns=now, source="safety"))

    # If the safety monitor itself fails, nothing may keep moving: stop the process.
    return horus.Node(
        name="safety", tick=tick, rate=RATE, subs={MOTOR_STATUS: horus.DifferentialDriveCommand},
        pubs={SAFETY: horus.EmergencyStop}, failure_policy="fatal",
    )  # fmt: skip
