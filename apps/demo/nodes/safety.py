"""Safety monitor: watches motor.status and says "ok" or why not (the motor stops on anything else)."""

from __future__ import annotations

from typing import Any

import horus

from .motor import MAX_WHEEL
from .topics import MOTOR_STATUS, SAFETY

RATE = 200.0
STATUS_TIMEOUT_NS = 100_000_000  # motor.status older than this: the controller is stuck


def assess(status: dict[str, Any] | None, age_ns: int) -> str:
    """ "" when safe, else the reason."""
    if status is None:
        return ""  # nothing moves before the first status: the motor starts stopped
    if age_ns > STATUS_TIMEOUT_NS:
        return f"motor.status is {age_ns / 1e6:.0f} ms old"
    fastest = max(abs(status["wheel"][0]), abs(status["wheel"][1]))
    if fastest > MAX_WHEEL * 1.05:
        return f"wheel speed {fastest:.2f} m/s over the {MAX_WHEEL} m/s limit"
    return ""


def make_safety() -> horus.Node:
    state: dict[str, Any] = {"status": None, "seen_ns": 0, "reason": "", "seq": 0}

    def tick(node: horus.Node) -> None:
        now = horus.now_ns()
        while node.has_msg(MOTOR_STATUS):
            state["status"] = node.recv(MOTOR_STATUS)
            state["seen_ns"] = now
        reason = assess(state["status"], now - state["seen_ns"])
        if reason and reason != state["reason"]:
            node.log_warning(f"E-STOP: {reason}")
        state["reason"] = reason
        state["seq"] += 1
        node.send(SAFETY, {"seq": state["seq"], "ok": not reason, "reason": reason})

    # If the safety monitor itself fails, nothing may keep moving: stop the process.
    return horus.Node(name="safety", tick=tick, rate=RATE, subs=[MOTOR_STATUS], pubs=[SAFETY], failure_policy="fatal")
