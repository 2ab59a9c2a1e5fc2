"""horus.NodeBuilder: upstream's chained way to add a node with its scheduling settings,
``sched.node(node).rate(100).order(1).budget(300 * horus.us).build()``.

It is a second spelling of the Node constructor's keywords: each call checks its value as the
constructor would, and build() sets them on the node and adds it. Nothing else keeps them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .policy import FailurePolicy, Miss

if TYPE_CHECKING:
    from .node import Node
    from .scheduler import Scheduler

# Upstream refuses values far beyond any tick's: most likely microseconds given as seconds.
_MAX_BUDGET_S = 1.0
_MAX_DEADLINE_S = 5.0


def _seconds(what: str, seconds: float, most: float | None = None) -> float:
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"NodeBuilder.{what}({seconds!r}): seconds, positive and finite, e.g. 300 * horus.us")
    if most is not None and seconds > most:
        raise ValueError(
            f"NodeBuilder.{what}({seconds!r}): over {most:g} s; it is in seconds: did you mean "
            f"{seconds:g} * horus.us ({seconds * 1e-6:g} s)?"
        )
    return seconds


class NodeBuilder:
    """Settings for one node, applied by build(). Every setter returns the builder."""

    def __init__(self, scheduler: Scheduler, node: Node) -> None:
        self._scheduler = scheduler
        self._node = node
        self._settings: dict[str, Any] = {}

    def order(self, order: int) -> NodeBuilder:
        self._settings["order"] = int(order)
        return self

    def rate(self, rate: float) -> NodeBuilder:
        if not rate > 0:
            raise ValueError(f"NodeBuilder.rate({rate!r}): a positive number of Hz")
        self._settings["rate"] = float(rate)
        return self

    def budget(self, seconds: float) -> NodeBuilder:
        self._settings["budget"] = _seconds("budget", seconds, _MAX_BUDGET_S)
        return self

    def deadline(self, seconds: float) -> NodeBuilder:
        self._settings["deadline"] = _seconds("deadline", seconds, _MAX_DEADLINE_S)
        return self

    def watchdog(self, seconds: float) -> NodeBuilder:
        self._settings["watchdog"] = _seconds("watchdog", seconds)
        return self

    def on_miss(self, policy: str) -> NodeBuilder:
        self._settings["on_miss"] = Miss.parse(policy)
        return self

    def failure_policy(
        self,
        name: str,
        max_retries: int | None = None,
        backoff_ms: int | None = None,
        max_failures: int | None = None,
        cooldown_ms: int | None = None,
    ) -> NodeBuilder:
        """fatal, restart (max_retries, first backoff_ms), skip (after max_failures, for cooldown_ms)
        or ignore; the numbers default to upstream's (5 restarts from 100 ms, 5 failures, 30 s)."""
        kind = FailurePolicy.parse(name).kind
        policy = FailurePolicy(
            kind,
            max_restarts=5 if max_retries is None else max_retries,
            initial_backoff=(100 if backoff_ms is None else backoff_ms) / 1000,
            max_failures=5 if max_failures is None else max_failures,
            cooldown=(30_000 if cooldown_ms is None else cooldown_ms) / 1000,
        )
        self._settings["failure_policy"] = policy
        return self

    def on(self, topic: str) -> NodeBuilder:
        """Tick when a message arrives on `topic` (an event node), not at a rate."""
        self._settings["execution"] = ("on", topic)
        return self

    def compute(self) -> NodeBuilder:
        """Tick on the scheduler's worker pool (CPU-heavy work off the loop's thread)."""
        self._settings["execution"] = ("compute", None)
        return self

    def async_io(self) -> NodeBuilder:
        """Tick as a coroutine on the node's event loop: the node's tick must be ``async def``."""
        self._settings["execution"] = ("async", None)
        return self

    def priority(self, prio: int) -> NodeBuilder:
        if not 0 <= prio <= 99:
            raise ValueError(f"NodeBuilder.priority({prio!r}): a SCHED_FIFO priority, 1-99 (0: none)")
        self._settings["priority"] = int(prio)
        return self

    def core(self, cpu_id: int) -> NodeBuilder:
        if cpu_id < 0:
            raise ValueError(f"NodeBuilder.core({cpu_id!r}): a CPU index (0, 1, ...)")
        self._settings["core"] = int(cpu_id)
        return self

    def build(self) -> Scheduler:
        """Set the settings on the node and add it to the scheduler; returns the scheduler."""
        node, settings = self._node, dict(self._settings)
        execution = settings.pop("execution", None)
        policy = settings.pop("failure_policy", None)
        for key, value in settings.items():
            setattr(node, key, value)
        if policy is not None:
            node.failure_policy = policy.kind
            node._policy = policy
        if execution is not None:
            node._set_execution(*execution)
        return self._scheduler.add(node)
