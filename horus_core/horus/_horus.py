"""horus._horus: where upstream HORUS keeps its native extension, for code that imports from there.

Here the native core is horus._core and the API is Python over it; this module names the
same objects as the horus package under upstream's paths (``from horus._horus import
SchedulerConfig``), so such code runs unchanged.
"""

from typing import Any

from . import drivers
from ._version import get_version
from .clock import Rate
from .clock import budget_remaining as time_budget_remaining
from .clock import dt as time_dt
from .clock import elapsed as time_elapsed
from .clock import now as time_now
from .clock import rng_float as time_rng_float
from .clock import tick as time_tick
from .clock import timestamp_ns as get_timestamp_ns
from .errors import HorusNotFoundError, HorusTimeoutError, HorusTransformError
from .messages import *  # noqa: F403  (the standard message set, as upstream's extension registers it)
from .messages import __all__ as _MESSAGES
from .nodebuilder import NodeBuilder
from .nodeinfo import NodeInfo, NodeState
from .params import Params
from .policy import Miss
from .schedconfig import Priority, SchedulerConfig
from .scheduler import Scheduler
from .topic import Topic
from .transform import Transform
from .transform_frame import TransformFrame, TransformFrameConfig

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
