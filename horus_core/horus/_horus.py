"""horus._horus: where upstream HORUS keeps its native extension, for code that imports from there.

Here the native core is horus._core and the API is Python over it; this module names the
same objects as the horus package under upstream's paths (``from horus._horus import
SchedulerConfig``), so such code runs unchanged.
"""

from typing import Any

from ._version import get_version
from .errors import HorusNotFoundError, HorusTimeoutError, HorusTransformError
from .messaging.messages import *  # noqa: F403  (the standard message set, as upstream's extension registers it)
from .messaging.messages import __all__ as _MESSAGES
from .messaging.topic import Topic
from .runtime import drivers
from .runtime.clock import Rate
from .runtime.clock import budget_remaining as time_budget_remaining
from .runtime.clock import dt as time_dt
from .runtime.clock import elapsed as time_elapsed
from .runtime.clock import now as time_now
from .runtime.clock import rng_float as time_rng_float
from .runtime.clock import tick as time_tick
from .runtime.clock import timestamp_ns as get_timestamp_ns
from .runtime.nodebuilder import NodeBuilder
from .runtime.nodeinfo import NodeInfo, NodeState
from .runtime.params import Params
from .runtime.policy import Miss
from .runtime.schedconfig import Priority, SchedulerConfig
from .runtime.scheduler import Scheduler
from .transforms.transform import Transform
from .transforms.transform_frame import TransformFrame, TransformFrameConfig

# The numpy-backed types, loaded when first named, as `horus` loads them (a robot without numpy never does).
_LAZY = (
    "CompressedImage",
    "DepthImage",
    "Image",
    "OccupancyGrid",
    "PointCloud",
    "Tensor",
    "TensorHandle",
    "TensorPool",
)


__all__ = [
    *_MESSAGES,
    *_LAZY,
    "HorusNotFoundError",
    "HorusTimeoutError",
    "HorusTransformError",
    "Miss",
    "NodeBuilder",
    "NodeInfo",
    "NodeState",
    "Params",
    "Priority",
    "Rate",
    "Scheduler",
    "SchedulerConfig",
    "Topic",
    "Transform",
    "TransformFrame",
    "TransformFrameConfig",
    "drivers",
    "get_timestamp_ns",
    "get_version",
    "time_budget_remaining",
    "time_dt",
    "time_elapsed",
    "time_now",
    "time_rng_float",
    "time_tick",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import horus

        return getattr(horus, name)
    raise AttributeError(f"module 'horus._horus' has no attribute {name!r}")
