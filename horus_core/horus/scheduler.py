"""horus.Scheduler: ticks nodes at their rates on absolute deadlines, applies failure policies.

One thread runs the loop. Each node has its own period and next due time; the
loop sleeps until the earliest one with an absolute CLOCK_MONOTONIC deadline
(GIL released), so a late wake-up never accumulates into drift. Nodes with
``compute=True`` (and async nodes) tick on a worker pool: the loop only starts
them and collects their results, so a slow planner never delays a 1 kHz node.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from . import _core, log, registry, sdnotify
from .errors import HorusError, NodeNotFoundError
from .node import Node, describe_exception
from .stats import NodeStats

NS = 1_000_000_000
# Upper bound on one sleep, so stop() and pool results are noticed promptly.
_MAX_SLEEP_NS = 50_000_000

# What status() returns: idle until run(), then starting -> running -> stopping -> stopped or failed.
SchedulerState = Literal["idle", "starting", "running", "stopping", "stopped", "failed"]


class NodeFailedError(HorusError):
    """A node with failure_policy="fatal" (or an exhausted "restart") failed; the scheduler stopped."""


@dataclass
class _Slot:
    """The scheduler's bookkeeping for one node."""

    node: Node
    stats: NodeStats
    period_ns: int
    next_due: int = 0
    resume_at: int = 0  # for suspended / restarting nodes
    needs_init: bool = True
    restart_attempt: int = 0
    deadline_ns: int = 0
    budget_ns: int = 0
    watchdog_ns: int = 0  # 0: no watchdog
    index: int = 0  # its record in the stats registry
    future: Future[tuple[int, int, BaseException | None]] | None = None
    started_at: int = 0


class Scheduler:
    """Runs nodes. ``Scheduler(tick_rate=1000, rt=False, name=None)``; ``add(node)`` chains.

    tick_rate caps every node's rate (Hz). rt=True locks memory and asks for
    SCHED_FIFO; where the system refuses, it logs why and what to grant, and
    ``safety_stats()["rt"]`` says what was obtained.
    """

    def __init__(
        self,
        tick_rate: float = 1000.0,
        rt: bool = False,
        name: str | None = None,
        *,
        rt_priority: int = 50,
        workers: int = 4,
        watchdog_ms: int = 0,
    ) -> None:
        if tick_rate <= 0:
            raise ValueError(f"tick_rate must be positive Hz (got {tick_rate!r})")
        self.tick_rate = float(tick_rate)
        self.rt = rt
        self.name = name or "scheduler"
        self.rt_priority = rt_priority
        self.watchdog_ms = watchdog_ms
        self._workers = workers
        self._slots: dict[str, _Slot] = {}
        self._stop = threading.Event()
        self._running = False
        self._state: SchedulerState = "idle"
        self._fatal: tuple[str, BaseException] | None = None
        self._rt_status: dict[str, Any] = {"requested": rt, "sched_fifo": False, "memory_locked": False}
        self._pool: ThreadPoolExecutor | None = None
        self._registry: registry.Publisher | None = None
        self._ready_hooks: list[Any] = []
        self._loop_hooks: list[Any] = []
        # READY=1, WATCHDOG=1 and STOPPING=1 to systemd when NOTIFY_SOCKET is set (Type=notify units).
        self._notifier = sdnotify.attach(self)

    # -- building -------------------------------------------------------------------

    def add(self, node: Node) -> Scheduler:
        if not isinstance(node, Node):
            raise TypeError(f"Scheduler.add expects a horus.Node, got {type(node).__name__}")
        if node.name in self._slots:
            raise ValueError(f"a node named {node.name!r} was already added: node names must be unique")
        if self._running:
            raise RuntimeError("add nodes before run(): the scheduler is already running")
        period = max(node.period, 1.0 / self.tick_rate)
        stats = NodeStats(node.name, 1.0 / period, node.failure_policy.kind)
        watchdog = node.watchdog or self.watchdog_ms / 1000
        self._slots[node.name] = _Slot(
            node, stats, int(period * NS), deadline_ns=int(node.deadline * NS), budget_ns=int(node.budget * NS),
            watchdog_ns=int(watchdog * NS), index=len(self._slots),
        )  # fmt: skip
        return self

    def node_names(self) -> list[str]:
        return list(self._slots)

    # -- introspection (any thread) ---------------------------------------------------

    def get_node_stats(self, name: str) -> dict[str, Any]:
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(self._slots) or "none"
            raise NodeNotFoundError(f"no node named {name!r} in scheduler {self.name!r} (nodes: {known})")
        node = slot.node
        return slot.stats.snapshot(
            {
                "messages_sent": node.messages_sent,
                "messages_received": node.messages_received,
                "messages_missed": node.messages_missed,
                "order": node.order,
            }
        )

    def get_all_node_stats(self) -> dict[str, dict[str, Any]]:
        return {name: self.get_node_stats(name) for name in list(self._slots)}

    def safety_stats(self) -> dict[str, Any]:
        stats = [s.stats for s in self._slots.values()]
        return {
            "state": self._state,
            "budget_overruns": sum(s.budget_overruns for s in stats),
            "deadline_misses": sum(s.deadline_misses for s in stats),
            "watchdog_expirations": sum(s.watchdog_expirations for s in stats),
            "errors": sum(s.errors_count for s in stats),
            "nodes": {s.name: s.health() for s in stats},
            "rt": dict(self._rt_status),
        }

    def status(self) -> SchedulerState:
        return self._state

    def is_running(self) -> bool:
        return self._running

    # -- control --------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the current pass; safe from any thread or a signal handler."""
        self._stop.set()

    def on_ready(self, hook: Any) -> None:
        """Call ``hook()`` once every node's init has run (used for systemd READY=1)."""
        self._ready_hooks.append(hook)

    def on_loop(self, hook: Any) -> None:
        """Call ``hook(now_ns)`` once per loop pass from the scheduling thread (watchdog pings)."""
        self._loop_hooks.append(hook)

    def run(self, duration: float | None = None) -> None:
        """Run until stop(), SIGTERM/SIGINT, ``duration`` seconds, or a fatal node failure.

        Shutdown hooks always run. A fatal failure raises NodeFailedError after
        cleanup, so an unhandled one exits the process non-zero.
        """
        if self._running:
            raise RuntimeError("this scheduler is already running")
        self._running = True
        self._stop.clear()
        restore = self._install_signals()
        try:
            self._state = "starting"
            _core.timer_slack_min()
            if self.rt:
                self._enter_rt()
            self._open_registry()
            self._loop(duration)
        finally:
            self._state = "stopping"
            if self._notifier is not None:
                self._notifier.stopping()
            self._shutdown_all()
            if self._registry is not None:
                self._registry.close()
                self._registry = None
            restore()
            self._running = False
            self._state = "failed" if self._fatal else "stopped"
        if self._fatal:
            name, exc = self._fatal
            raise NodeFailedError(f"node {name!r} failed and its policy is fatal: {describe_exception(exc)}") from exc

    # -- the loop ---------------------------------------------------------------------

    def _loop(self, duration: float | None) -> None:
        now = _core.now_ns()
        end = now + int(duration * NS) if duration is not None else None
        slots = sorted(self._slots.values(), key=lambda s: s.node.order)
        for slot in slots:
            slot.node.open_topics()
            slot.next_due = now
            self._init(slot, now)
        self._state = "running"
        for hook in self._ready_hooks:
            hook()
        while not self._stop.is_set():
            now = _core.now_ns()
            if end is not None and now >= end:
                break
            for slot in slots:
                self._service(slot, now)
                if slot.node._stop_requested:
                    self._stop.set()
            for loop_hook in self._loop_hooks:
                loop_hook(now)
            wake = min(
                [s.resume_at if s.stats.state in ("suspended", "restarting") else s.next_due for s in slots],
                default=now + _MAX_SLEEP_NS,
            )
            wake = min(wake, now + _MAX_SLEEP_NS, end if end is not None else wake)
            if any(s.future is not None for s in slots):
                wake = min(wake, now + int(NS / self.tick_rate))
            if wake > now:
                _core.sleep_until(wake)

    def _service(self, slot: _Slot, now: int) -> None:
        state = slot.stats.state
        if state == "failed":
            return
        if state in ("suspended", "restarting"):
            if now < slot.resume_at:
                return
            slot.stats.set_state("running")
            slot.next_due = now
            if state == "restarting" or slot.needs_init:
                self._init(slot, now)
                return
        if slot.future is not None:
            if slot.future.done():
                self._collect(slot)
            return
        if now < slot.next_due:
            return
        if slot.needs_init:  # an ignored init failure: keep trying it
            self._init(slot, now)
            if slot.needs_init:
                return
        if slot.node.compute or slot.node._is_async:
            slot.started_at = now
            slot.future = self._pool_get().submit(self._timed_tick, slot.node)
        else:
            start, end, exc = self._timed_tick(slot.node)
            self._finish_tick(slot, start, end, exc)

    @staticmethod
    def _timed_tick(node: Node) -> tuple[int, int, BaseException | None]:
        start = _core.now_ns()
        try:
            node._call(node.tick_fn)
            exc = None
        except Exception as e:
            exc = e
        return start, _core.now_ns(), exc

    def _collect(self, slot: _Slot) -> None:
        assert slot.future is not None
        start, end, exc = slot.future.result()
        slot.future = None
        self._finish_tick(slot, start, end, exc)

    def _finish_tick(self, slot: _Slot, start: int, end: int, exc: BaseException | None) -> None:
        slot.node.tick_count += 1
        duration = end - start
        slot.stats.record_tick(
            start,
            end,
            exc is None,
            end - slot.next_due > slot.deadline_ns,
            duration > slot.budget_ns,
            0 < slot.watchdog_ns < duration,
        )
        # Next due on the grid of the period; periods that already passed are skipped, not replayed.
        slot.next_due += slot.period_ns
        if slot.next_due <= end:
            behind = end - slot.next_due
            slot.next_due += (behind // slot.period_ns + 1) * slot.period_ns
        if exc is not None:
            self._failed(slot, exc, "tick", end)
        elif slot.restart_attempt:
            slot.restart_attempt = 0

    def _init(self, slot: _Slot, now: int) -> None:
        slot.stats.set_state("initializing")
        try:
            slot.node._call(slot.node.init_fn)
        except Exception as exc:
            slot.stats.record_error(describe_exception(exc))
            self._failed(slot, exc, "init", now)
            if slot.node.failure_policy.kind == "ignore":
                slot.stats.set_state("running")
            return
        slot.needs_init = False
        if slot.stats.total_ticks == 0 and slot.restart_attempt == 0:
            slot.stats.started()
        else:
            slot.stats.set_state("running")

    def _failed(self, slot: _Slot, exc: BaseException, phase: str, now: int) -> None:
        node, policy = slot.node, slot.node.failure_policy
        text = describe_exception(exc)
        if phase == "tick":
            slot.stats.record_error(text)
            if node.on_error is not None:
                try:
                    node.on_error(node, exc)
                    return
                except Exception as handler_exc:
                    exc, text = handler_exc, describe_exception(handler_exc)
        log.emit(log.ERROR, node.name, node.tick_count, f"{phase} failed: {text}")
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
        if self._fatal is None:
            self._fatal = (node.name, exc)
        self._stop.set()

    # -- start and stop ---------------------------------------------------------------

    def _open_registry(self) -> None:
        """From here on every change of a node's stats (each tick's among them) also rewrites its registry record."""
        try:
            self._registry = registry.Publisher(self.name, len(self._slots))
        except (OSError, ValueError) as exc:
            log.emit(log.WARNING, self.name, 0, f"stats registry unavailable, horus monitor will not see us: {exc}")
            return
        for slot in self._slots.values():
            self._registry.attach(slot.index, slot.stats)

    def _pool_get(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"horus-{self.name}")
        return self._pool

    def _shutdown_all(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for slot in sorted(self._slots.values(), key=lambda s: s.node.order, reverse=True):
            node = slot.node
            try:
                if not slot.needs_init or slot.stats.total_ticks:
                    node._call(node.shutdown_fn)
            except Exception as exc:
                log.emit(log.ERROR, node.name, node.tick_count, f"shutdown failed: {describe_exception(exc)}")
            finally:
                node._close_loop()
                node.close_topics()
                if slot.stats.state != "failed":
                    slot.stats.set_state("stopped")

    def _install_signals(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, frame: Any) -> None:
            self.stop()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    def _enter_rt(self) -> None:
        problems = []
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_priority))
            self._rt_status["sched_fifo"] = True
        except OSError as exc:
            problems.append(
                f"SCHED_FIFO priority {self.rt_priority} refused ({exc.strerror}): grant CAP_SYS_NICE "
                "(systemd: AmbientCapabilities=CAP_SYS_NICE) or LimitRTPRIO=99"
            )
        try:
            _core.lock_memory()
            self._rt_status["memory_locked"] = True
        except OSError as exc:
            problems.append(
                f"mlockall refused ({exc.strerror}): grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK) "
                "or LimitMEMLOCK=infinity"
            )
        self._rt_status["problems"] = problems
        for problem in problems:
            log.emit(log.WARNING, self.name, 0, f"rt=True: {problem}; running without it")

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(
    *nodes: Node,
    duration: float | None = None,
    tick_rate: float = 1000.0,
    rt: bool = False,
    name: str | None = None,
) -> Scheduler:
    """Run ``nodes`` in one scheduler until stopped; returns the (stopped) scheduler."""
    sched = Scheduler(tick_rate=tick_rate, rt=rt, name=name)
    for node in nodes:
        sched.add(node)
    sched.run(duration)
    return sched
