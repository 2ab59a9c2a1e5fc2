"""Topic names and sizes, shared by every process: a topic's size is fixed by whoever opens it first."""

from __future__ import annotations

FRAME_SHAPE = (120, 160, 3)  # synthetic RGB camera frame, uint8

CAMERA = "camera.rgb"
DETECTIONS = "detections"
PATH = "path"
# Typed (horus.messaging.messages), so the compiled motor and safety nodes (cnodes/) share them:
CMD_VEL = "cmd_vel"  # horus.CmdVel: the planner's setpoint
MOTOR_STATUS = "motor.status"  # horus.DifferentialDriveCommand: wheel speeds, enable = not stopped
SAFETY = "safety.state"  # horus.EmergencyStop: engaged, and why


def memory_topic(process: str) -> str:
    return f"diagnostics.memory.{process}"


# The frame plus its header; every other message is small and fits the runtime's default.
CAMERA_TOPIC = {CAMERA: {"max_msg_size": 64 * 1024}}
