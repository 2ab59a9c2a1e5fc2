"""What the scheduler does when a node fails: its failure policy (fatal, restart, skip, ignore),
its on_miss after a deadline miss, a critical node's overrun, and max_deadline_misses.

One object per scheduler, called from the scheduler's loop only. It decides; the loop acts on
what it decided through the slot (state, resume_at, needs_init) and `stop` (set once the
scheduler must stop: run() then raises `fatal`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..errors import HorusError
from ..observability import log
from .node import Node, describe_exception
from .policy import Miss

if TYPE_CHECKING:
    from .scheduler import _Slot

NS = 1_000_000_000


class NodeFailedError(HorusError):
    """The scheduler stopped on a failure: a node with failure_policy="fatal" (or an exhausted
    "restart") failed, a node with on_miss="stop" missed its deadline, or max_deadline_misses
    was reached."""


class Failures:
    """The failure and miss policies of one scheduler's nodes, and what they add up to."""

    def __init__(self, max_deadline_misses: int | None, stop: threading.Event, event: Callable[..., None]) -> None:
        self.max_deadline_misses = max_deadline_misses
        self.deadline_misses = 0
        self.miss_actions = 0  # on_miss actions taken (skip, safe mode) and critical overruns
        self.fatal: NodeFailedError | None = None  # why the scheduler stopped, once it must
        self._stop = stop
        self._event = event  # the black box's record of an anomaly: event(kind, **fields)

    def missed(self, slot: _Slot) -> None:
        """A tick of `slot` ended after its deadline: its on_miss, then max_deadline_misses."""
        node, action = slot.node, slot.node.on_miss
        self.deadline_misses += 1
        if action == Miss.WARN:
            log.emit(log.WARNING, node.name, node.tick_count, f"missed its deadline ({slot.deadline_ns / 1e6:g} ms)")
        elif action == Miss.SKIP:
            slot.skip_next = True
            self.miss_actions += 1
        elif action == Miss.SAFE_MODE:
            self.miss_actions += 1
            self.enter_safe_state(node)
        elif action == Miss.STOP:
            self.fail(node.name, f"node {node.name!r} missed its deadline and its on_miss is 'stop'")
        if self.max_deadline_misses is not None and self.deadline_misses >= self.max_deadline_misses:
            self.fail(
                node.name,
                f"{self.deadline_misses} deadline misses reached max_deadline_misses={self.max_deadline_misses} "
                f"(the last by node {node.name!r})",
            )

    def critical_overrun(self, slot: _Slot, duration: int, every: Iterable[_Slot]) -> None:
        """A critical node (add_critical_node) ticked too long: every node to its safe state, then stop."""
        for each in every:
            self.enter_safe_state(each.node)
        self.miss_actions += 1
        self.fail(
            slot.node.name,
            f"critical node {slot.node.name!r} ticked for {duration / 1e6:.3g} ms, over its "
            f"{slot.critical_ns / 1e6:g} ms: every node was put in its safe state",
        )

    @staticmethod
    def enter_safe_state(node: Node) -> None:
        hook = getattr(node, "enter_safe_state", None)
        if hook is None:
            return
        try:
            hook()
        except Exception as exc:
            log.emit(log.ERROR, node.name, node.tick_count, f"enter_safe_state failed, it may not be safe: "
                     f"{describe_exception(exc)}")  # fmt: skip

    def fail(self, name: str, message: str, cause: BaseException | None = None) -> None:
        """Stop the scheduler; run() (or tick_once/tick_for) raises NodeFailedError after the shutdowns."""
        log.emit(log.ERROR, name, 0, f"{message}; stopping the scheduler")
        self._event("EmergencyStop", name=name, reason=message)
        if self.fatal is None:
            self.fatal = NodeFailedError(message)
            self.fatal.__cause__ = cause
        self._stop.set()

    def failed(self, slot: _Slot, exc: BaseException, phase: str, now: int) -> None:
        """`slot`'s init or tick raised `exc` at `now`: apply its failure policy."""
        node, policy = slot.node, slot.node.policy
        text = describe_exception(exc)
        if phase == "tick":
            slot.stats.record_error(text)
        log.emit(log.ERROR, node.name, node.tick_count, f"{phase} failed: {text}")
        self._event("NodeError", name=node.name, phase=phase, error=text)
        if policy.kind == "ignore":
            return
        if policy.kind == "skip":
            if phase == "init" or slot.stats.consecutive_failures >= policy.max_failures:
                slot.stats.set_state("suspended")
                slot.resume_at = now + int(policy.cooldown * NS)
                log.emit(
                    log.WARNING,
                    node.name,
                    node.tick_count,
                    f"suspended for {policy.cooldown:g}s after {slot.stats.consecutive_failures} failures",
                )
            return
        if policy.kind == "restart" and slot.restart_attempt < policy.max_restarts:
            slot.restart_attempt += 1
            slot.stats.restarts += 1
            slot.stats.set_state("restarting")
            slot.needs_init = True
            delay = policy.backoff(slot.restart_attempt)
            slot.resume_at = now + int(delay * NS)
            log.emit(
                log.WARNING,
                node.name,
                node.tick_count,
                f"restarting in {delay:g}s (attempt {slot.restart_attempt} of {policy.max_restarts})",
            )
            return
        slot.stats.set_state("failed")
        self.fail(node.name, f"node {node.name!r} failed and its policy is fatal: {text}", exc)

    @staticmethod
    def check_policies(slots: Iterable[_Slot]) -> None:
        """In production every node should say what its failure does: the default only logs and goes on."""
        for slot in slots:
            if slot.node.failure_policy is None:
                log.emit(
                    log.WARNING, slot.node.name, 0,
                    "no failure_policy: an exception is logged and the node keeps ticking (upstream's default); "
                    "on a robot say which it needs: fatal, restart, skip or ignore",
                )  # fmt: skip
