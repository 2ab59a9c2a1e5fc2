"""horus._horus: where upstream HORUS keeps its native extension, for code that imports from there.

Here the native core is horus._core and the API is Python over it; this module names the
same objects as the horus package under upstream's paths (``from horus._horus import
SchedulerConfig``), so such code runs unchanged.
"""

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
from .nodeinfo import NodeInfo, NodeState
from .params import Params
from .policy import Miss
from .schedconfig import Priority, SchedulerConfig
from .scheduler import Scheduler
from .topic import Topic
from .transform import Transform
from .transform_frame import TransformFrame, TransformFrameConfig

__all__ = [
    *_MESSAGES,
    "HorusNotFoundError",
    "HorusTimeoutError",
    "HorusTransformError",
    "Miss",
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
    "get_timestamp_ns",
    "get_version",
    "time_budget_remaining",
    "time_dt",
    "time_elapsed",
    "time_now",
    "time_rng_float",
    "time_tick",
]
