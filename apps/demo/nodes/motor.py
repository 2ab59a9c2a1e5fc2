"""Motor controller: 1 kHz, gc disabled, no allocation of its own per tick.

A differential drive stand-in: two wheel speeds follow the planner's latest CmdVel through a
first-order response, clamped, and go to zero whenever the safety monitor's EmergencyStop is
engaged or has gone quiet (fail-safe). State lives in pre-allocated `array('d')` buffers and one
DifferentialDriveCommand updated in place. cnodes/motor.c is the same node compiled (the image
spec chooses which runs).
"""

from __future__ import annotations

import gc
from array import array

import horus

from .topics import CMD_VEL, MOTOR_STATUS, SAFETY

RATE = 1000.0
STATUS_EVERY = 10  # publish motor.status at 100 Hz
MAX_WHEEL = 1.0  # m/s
TRACK = 0.3  # m between the wheels
TAU = 0.05  # s, wheel response
SAFETY_TIMEOUT_NS = 200_000_000  # no safety.state for this long: stop


def make_motor(disable_gc: bool = True) -> horus.Node:
    wheel = array("d", [0.0, 0.0])  # measured wheel speeds (simulated)
    setpoint = array("d", [0.0, 0.0])
    counters = array("q", [0, 0, 0])  # tick, last safety.state (ns), not engaged (0/1)
    status = horus.DifferentialDriveCommand(max_acceleration=MAX_WHEEL / TAU, enable=False)
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
            counters[2] = 0 if node.recv(SAFETY).engaged else 1
            counters[1] = now
        if node.has_msg(CMD_VEL):
            cmd = node.recv(CMD_VEL)
            setpoint[0] = max(-MAX_WHEEL, min(MAX_WHEEL, cmd.linear - cmd.angular * TRACK / 2))
            setpoint[1] = max(-MAX_WHEEL, min(MAX_WHEEL, cmd.linear + cmd.angular * TRACK / 2))
        estop = counters[2] == 0 or now - counters[1] > SAFETY_TIMEOUT_NS
        for i in (0, 1):
            target = 0.0 if estop else setpoint[i]
            wheel[i] += alpha * (target - wheel[i])
        counters[0] += 1
        if counters[0] % STATUS_EVERY == 0:
            status.left_velocity, status.right_velocity = wheel[0], wheel[1]
            status.enable = not estop
            status.timestamp_ns = now
            node.send(MOTOR_STATUS, status)

    def shutdown(node: horus.Node) -> None:
        wheel[0] = wheel[1] = 0.0
        node.log_info("motor controller stopped, wheels at zero")
        if disable_gc:
            gc.enable()

    # The seed's rule for the motor: any failure stops the process; systemd restarts it.
    return horus.Node(
        name="motor", tick=tick, init=init, shutdown=shutdown, rate=RATE,
        subs={CMD_VEL: horus.CmdVel, SAFETY: horus.EmergencyStop}, pubs={MOTOR_STATUS: horus.DifferentialDriveCommand},
        failure_policy="fatal", budget=300 * horus.us, deadline=900 * horus.us,
    )  # fmt: skip
