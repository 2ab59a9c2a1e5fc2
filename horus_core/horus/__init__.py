"""HORUS for Python: nodes that tick on time and talk through shared-memory topics.

    import horus

    def tick(node):
        cmd = node.recv("cmd_vel")
        if cmd is not None:
            node.send("motor.status", {"ok": True})

    motor = horus.Node(name="motor", tick=tick, rate=1000, subs=["cmd_vel"],
                       pubs=["motor.status"], failure_policy="fatal")
    horus.run(motor, rt=True)

Messages are plain data (dict, list, tuple, str, bytes, int, float, bool, None),
numpy arrays, and upstream HORUS's typed messages (horus.CmdVel, horus.Imu, ...: fixed
layouts shared with C, csrc/horus_msgs.h); never pickled. Processes in the same
HORUS_NAMESPACE share topics.

Importing horus keeps freed heap memory in the process (glibc mallopt), so the
buffers of large messages are reused rather than page-faulted in on every
receive; HORUS_KEEP_HEAP=0 leaves malloc as it was.
"""

import os as _os

from . import (
    _core,
    msggen,  # a team's own typed messages, as upstream's horus.msggen
    perception,  # upstream's horus.perception; its BoundingBox2D etc. are not the messages'
)
from ._version import __version__, get_version
from .errors import (
    DecodeError,
    EncodeError,
    HorusError,
    HorusNotFoundError,
    HorusTimeoutError,
    HorusTransformError,
    MessageTooLargeError,
    NodeNotFoundError,
    TopicBusyError,
    TopicCorruptError,
    TopicLayoutError,
)
from .messaging.message import Message
from .messaging.messages import *  # noqa: F403  (the standard message set: __all__ of horus.messaging.messages)
from .messaging.messages import __all__ as _MESSAGES
from .messaging.topic import Topic
from .observability.health import serve_health
from .perception import COCOPose, DetectionList, PointCloudBuffer, PointXYZ, PointXYZRGB
from .runtime import drivers
from .runtime.clock import Rate, budget_remaining, dt, elapsed, now, rng_float, tick, timestamp_ns
from .runtime.node import LogOutsideSchedulerWarning, Node, Pub, Sub
from .runtime.nodebuilder import NodeBuilder
from .runtime.nodeinfo import NodeInfo, NodeState
from .runtime.params import Params
from .runtime.policy import FailurePolicy, Miss
from .runtime.schedconfig import Priority, SchedulerConfig
from .runtime.scheduler import NodeFailedError, Scheduler, run
from .runtime.updates import UpdateHold
from .transforms.transform import Transform
from .transforms.transform_frame import TransformFrame, TransformFrameConfig

# Upstream HORUS's time_* spellings of the framework clock (horus.runtime.clock).
time_now, time_dt, time_elapsed, time_tick = now, dt, elapsed, tick
time_budget_remaining, time_rng_float, get_timestamp_ns = budget_remaining, rng_float, timestamp_ns

if _os.environ.get("HORUS_KEEP_HEAP", "1") != "0":
    _core.keep_heap()

# Units for budget= and deadline= (seconds), as upstream HORUS: budget=300 * horus.us
us = 1e-6
ms = 1e-3


def __getattr__(name: str) -> object:
    # horus.Tensor, TensorPool and the frames need numpy, which a robot without it never imports.
    if name == "Tensor":
        from .messaging.tensor import Tensor

        return Tensor
    if name in ("TensorPool", "TensorHandle"):
        from .messaging import tensorpool

        return getattr(tensorpool, name)
    if name in ("Image", "DepthImage", "PointCloud", "OccupancyGrid", "CompressedImage"):
        from .messaging import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'horus' has no attribute {name!r}")


def now_ns() -> int:
    """CLOCK_MONOTONIC in nanoseconds (the clock the scheduler and message stamps use)."""
    return _core.now_ns()


__all__ = [
    *_MESSAGES,
    "COCOPose",
    "DecodeError",
    "DetectionList",
    "EncodeError",
    "FailurePolicy",
    "HorusError",
    "HorusNotFoundError",
    "HorusTimeoutError",
    "HorusTransformError",
    "LogOutsideSchedulerWarning",
    "Message",
    "drivers",
    "msggen",
    "perception",
    "MessageTooLargeError",
    "Miss",
    "Node",
    "NodeFailedError",
    "Params",
    "PointCloudBuffer",
    "PointXYZ",
    "PointXYZRGB",
    "NodeBuilder",
    "NodeInfo",
    "NodeNotFoundError",
    "NodeState",
    "Priority",
    "Pub",
    "Rate",
    "Scheduler",
    "SchedulerConfig",
    "Sub",
    "Topic",
    "TopicBusyError",
    "TopicCorruptError",
    "TopicLayoutError",
    "Transform",
    "TransformFrame",
    "TransformFrameConfig",
    "UpdateHold",
    "__version__",
    "_core",
    "budget_remaining",
    "dt",
    "elapsed",
    "get_timestamp_ns",
    "get_version",
    "ms",
    "now",
    "now_ns",
    "rng_float",
    "run",
    "serve_health",
    "tick",
    "time_budget_remaining",
    "time_dt",
    "time_elapsed",
    "time_now",
    "time_rng_float",
    "time_tick",
    "timestamp_ns",
    "us",
]
