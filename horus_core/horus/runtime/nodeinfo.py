"""horus.NodeInfo: what a running node's callbacks receive as ``info`` (``node.info`` while they run).

Upstream HORUS hands its init/tick/shutdown a NodeInfo; ``node.info`` is None outside them.
It reads the scheduler's own statistics of the node, so its counts are those that
``horus monitor`` shows.
"""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, Any

from ..observability import log

if TYPE_CHECKING:
    from ..observability.stats import NodeStats
    from .node import Node


class NodeState(str, enum.Enum):  # noqa: UP042  (StrEnum is 3.11+; horus_core runs on 3.10)
    """A node's lifecycle state, as upstream HORUS names it."""

    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"
    CRASHED = "crashed"

    def __repr__(self) -> str:
        return f"NodeState({self.value!r})"

    def __str__(self) -> str:
        return self.value


# Our scheduler's states (horus.observability.stats.NodeStateName) in upstream's words.
_STATES = {
    "created": NodeState.UNINITIALIZED,
    "initializing": NodeState.INITIALIZING,
    "running": NodeState.RUNNING,
    "suspended": NodeState.ERROR,
    "restarting": NodeState.ERROR,
    "failed": NodeState.CRASHED,
    "stopped": NodeState.STOPPED,
}


class _Unscheduled:
    """What a NodeInfo made by name (upstream's ``NodeInfo("name")``) stands on: no scheduler runs it."""

    def __init__(self, name: str) -> None:
        from ..messaging import namespace

        self.name = name
        self.tick_count = 0
        self.namespace = namespace.current()
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True


class NodeInfo:
    """The scheduler's view of one node, for the node itself; ``NodeInfo("name")`` makes one of no
    scheduler (as upstream, for tools and tests: its counts stay 0, its logs go where nodes' go)."""

    def __init__(self, name: str | Node, stats: NodeStats | None = None) -> None:
        if isinstance(name, str):
            from ..observability.stats import NodeStats

            node: Any = _Unscheduled(name)
            stats = NodeStats(name, 0.0, "ignore")
        elif stats is None:
            raise TypeError(f"NodeInfo({name!r}): give a node's name, or a node and its stats (the scheduler does)")
        else:
            node = name
        self._node = node
        self._stats = stats
        self._custom: dict[str, str] = {}
        self._created = time.monotonic()

    @property
    def name(self) -> str:
        return self._node.name

    @property
    def state(self) -> NodeState:
        return _STATES[self._stats.state]

    def tick_count(self) -> int:
        return int(self._stats.total_ticks)

    def error_count(self) -> int:
        return int(self._stats.errors_count)

    def successful_ticks(self) -> int:
        return int(self._stats.successful_ticks)

    def failed_ticks(self) -> int:
        return int(self._stats.failed_ticks)

    def avg_tick_duration_ms(self) -> float:
        ticks = self._stats.total_ticks
        return self._stats.sum_ns / ticks / 1e6 if ticks else 0.0

    def get_uptime(self) -> float:
        return time.monotonic() - self._created

    def get_metrics(self) -> dict[str, float]:
        return {
            "total_ticks": float(self.tick_count()),
            "successful_ticks": float(self.successful_ticks()),
            "failed_ticks": float(self.failed_ticks()),
            "errors_count": float(self.error_count()),
            "avg_tick_duration_ms": self.avg_tick_duration_ms(),
        }

    def log_info(self, message: str) -> None:
        log.emit(log.INFO, self.name, self._node.tick_count, message, self._node.namespace, 2)

    def log_warning(self, message: str) -> None:
        log.emit(log.WARNING, self.name, self._node.tick_count, message, self._node.namespace, 2)

    def log_error(self, message: str) -> None:
        log.emit(log.ERROR, self.name, self._node.tick_count, message, self._node.namespace, 2)

    def log_debug(self, message: str) -> None:
        log.emit(log.DEBUG, self.name, self._node.tick_count, message, self._node.namespace, 2)

    def log_pub(self, topic: str, data_repr: str, ipc_ns: int) -> None:
        """Record a message this node published (upstream's Topic.send(msg, node) calls it): a debug record."""
        self.log_debug(f"pub {topic}: {data_repr} ({ipc_ns} ns)")

    def log_sub(self, topic: str, data_repr: str, ipc_ns: int) -> None:
        """Record a message this node received (upstream's Topic.recv(node) calls it): a debug record."""
        self.log_debug(f"sub {topic}: {data_repr} ({ipc_ns} ns)")

    def __getnewargs__(self) -> tuple[str]:
        # As upstream: a copied or pickled NodeInfo is a new one of the same name, without the scheduler's counts.
        return (self.name,)

    def __reduce__(self) -> tuple[type[NodeInfo], tuple[str]]:
        return (NodeInfo, (self.name,))

    def set_custom_data(self, key: str, value: str) -> None:
        self._custom[key] = value

    def get_custom_data(self, key: str) -> str | None:
        return self._custom.get(key)

    def remove_custom_data(self, key: str) -> str | None:
        return self._custom.pop(key, None)

    def custom_data_keys(self) -> list[str]:
        return list(self._custom)

    def transition_to_error(self, error_msg: str) -> None:
        """Record an error for the node (counted, shown by horus monitor) without raising."""
        self._stats.record_error(error_msg)

    def request_stop(self) -> None:
        self._node.request_stop()

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, state={self.state.value}, ticks={self.tick_count()})"
