"""Topic names and sizes, shared by every process: a topic's size is fixed by whoever opens it first."""

from __future__ import annotations

FRAME_SHAPE = (120, 160, 3)  # synthetic RGB camera frame, uint8

CAMERA = "camera.rgb"
DETECTIONS = "detections"
PATH = "path"
MOTOR_STATUS = "motor.status"
SAFETY = "safety.state"


def memory_topic(process: str) -> str:
    return f"diagnostics.memory.{process}"


# The frame plus its header; every other message is small and fits the runtime's default.
CAMERA_TOPIC = {CAMERA: {"max_msg_size": 64 * 1024}}
