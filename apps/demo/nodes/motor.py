"""Motor controller: 1 kHz, gc disabled, no allocation of its own per tick.

A differential drive stand-in: two wheel speeds follow the setpoint from the latest path
through a first-order response, clamped, and go to zero whenever the safety monitor is not
"ok" or has gone quiet (fail-safe). State lives in pre-allocated `array('d')` buffers and one
status dict updated in place.
"""

from __future__ import annotations

import gc
from array import array
from typing import Any

import horus

from .topics import MOTOR_STATUS, PATH, SAFETY

RATE = 1000.0
STATUS_EVERY = 10  # publish motor.status at 100 Hz
MAX_WHEEL = 1.0  # m/s
TRACK = 0.3  # m between the wheels
TAU = 0.05  # s, wheel response
SAFETY_TIMEOUT_NS = 200_000_000  # no safety.state for this long: stop


def make_motor(disable_gc: bool = True) -> horus.Node:
    wheel = array("d", [0.0, 0.0])  # measured wheel speeds (simulated)
    setpoint = array("d", [0.0, 0.0])
    counters = array("q", [0, 0, 0])  # tick, last safety ok (ns), safety ok (0/1)
    status: dict[str, Any] = {"seq": 0, "stamp_ns": 0, "wheel": [0.0, 0.0], "setpoint": [0.0, 0.0], "estop": True}
    alpha = (1.0 / RATE) / TAU

    def init(node: horus.Node) -> None:
        if disable_gc:
            gc.collect()
            gc.freeze()  # what exists now is never scanned again
            gc.disable()  # and nothing this node allocates per tick forms cycles
        node.log_info(f"motor controller at {RATE:g} Hz, gc {'disabled' if disable_gc else 'enabled'}")

    def tick(node: horus.Node) -> None:
        now = horus.now_ns()
        if node.has_msg(SAFETY):
            safety = node.recv(SAFETY)
            counters[2] = 1 if safety["ok"] else 0
            counters[1] = now
        if node.has_msg(PATH):
            v, w = node.recv(PATH)["cmd_vel"]
            setpoint[0] = max(-MAX_WHEEL, min(MAX_WHEEL, v - w * TRACK / 2))
            setpoint[1] = max(-MAX_WHEEL, min(MAX_WHEEL, v + w * TRACK / 2))
        estop = counters[2] == 0 or now - counters[1] > SAFETY_TIMEOUT_NS
        for i in (0, 1):
            target = 0.0 if estop else setpoint[i]
            wheel[i] += alpha * (target - wheel[i])
        counters[0] += 1
        if counters[0] % STATUS_EVERY == 0:
            status["seq"] = counters[0]
            status["stamp_ns"] = now
            status["wheel"][0], status["wheel"][1] = wheel[0], wheel[1]
            status["setpoint"][0], status["setpoint"][1] = setpoint[0], setpoint[1]
            status["estop"] = estop
            node.send(MOTOR_STATUS, status)

    def shutdown(node: horus.Node) -> None:
        wheel[0] = wheel[1] = 0.0
        node.log_info("motor controller stopped, wheels at zero")
        if disable_gc:
            gc.enable()

    # The seed's rule for the motor: any failure stops the process; systemd restarts it.
    return horus.Node(
        name="motor", tick=tick, init=init, shutdown=shutdown, rate=RATE, subs=[PATH, SAFETY],
        pubs=[MOTOR_STATUS], failure_policy="fatal", budget=300 * horus.us, deadline=900 * horus.us,
    )  # fmt: skip
