"""horus.Scheduler: ticks nodes at their rates on absolute deadlines, applies failure policies.

One thread runs the loop. Each node has its own period and next due time; the
loop sleeps until the earliest one with an absolute CLOCK_MONOTONIC deadline
(GIL released), so a late wake-up never accumulates into drift. Nodes with
``compute=True`` (and async nodes) tick on a worker pool, nodes with ``priority=`` or
``core=`` on a thread of their own: the loop only starts them and collects their
results, so a slow planner never delays a 1 kHz node. An ``on=TOPIC`` node ticks when
a message waits on its topic.

deterministic=True swaps the clock for a virtual one (horus.runtime.clock) and ticks every
node on the loop's thread in order: the same run gives the same ticks every time.

The loop decides when each node ticks and measures it; its collaborators do the rest, one job
each: runtime/failures.py (failure policies, on_miss, max_deadline_misses: what a failure does and
whether to stop), observability/hub.py (the stats registry, black box, telemetry),
runtime/placement.py (real-time priority, memory locking, CPU pinning), recording/tape.py (the
flight recording) and recording/replay.py (upstream's replay of one).
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from .. import _core
from ..errors import NodeNotFoundError
from ..observability import log
from ..observability.hub import Observability
from ..observability.stats import NodeStats
from ..recording.recorder import Divergence, Feed, TickTap, delete_recording, list_recordings, load
from ..recording.replay import ReplaySession
from ..recording.tape import Tape
from . import clock, placement, sdnotify
from .clock import Clock, TickContext, VirtualClock, WallClock
from .collector import Collector
from .failures import Failures
from .failures import NodeFailedError as NodeFailedError  # re-exported: code imports it from here
from .node import Node, describe_exception
from .nodebuilder import NodeBuilder
from .nodeinfo import NodeInfo
from .schedconfig import SchedulerConfig

NS = 1_000_000_000
# Upper bound on one sleep, so stop() and pool results are noticed promptly.
_MAX_SLEEP_NS = 50_000_000

# What status() returns: idle until run(), then starting -> running -> stopping -> stopped or failed.
SchedulerState = Literal["idle", "starting", "running", "stopping", "stopped", "failed"]


@dataclass
class _Slot:
    """The scheduler's bookkeeping for one node."""

    node: Node
    stats: NodeStats
    info: NodeInfo
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
    thread: ThreadPoolExecutor | None = None  # a thread of its own (priority= or core=)
    skip_next: bool = False  # on_miss="skip" after a deadline miss
    ctx: TickContext | None = None  # what horus.now(), dt(), ... read while this node runs
    critical_ns: int = 0  # add_critical_node: a tick longer than this puts every node in safe state and stops


class Scheduler:
    """Runs nodes. ``Scheduler(tick_rate=1000, rt=False, name=None, ...)``; ``add(node)`` chains.

    tick_rate caps every node's rate (Hz). rt=True locks memory and asks for
    SCHED_FIFO; where the system refuses, it logs why and what to grant, and
    ``safety_stats()["rt"]`` says what was obtained.

    As upstream HORUS: deterministic=True runs on a virtual clock (no sleeping; the same
    ticks, order and horus.rng_float() draws on every run); cores=[..] pins the
    scheduler's threads; max_deadline_misses=N stops the scheduler (and run() raises
    NodeFailedError) once its nodes missed N deadlines in all; watchdog_ms is the
    default per-node watchdog; verbose=True logs each node's settings at start;
    config=horus.SchedulerConfig(...) gives these as one value.
    """

    def __init__(
        self,
        # Upstream's parameters, in its order (a call written for upstream works here), then ours.
        tick_rate: float = 1000.0,
        rt: bool = False,
        deterministic: bool = False,
        blackbox_mb: int = 0,
        watchdog_ms: int = 0,
        recording: bool | str | os.PathLike[str] = False,
        name: str | None = None,
        cores: list[int] | None = None,
        max_deadline_misses: int | None = None,
        verbose: bool = False,
        telemetry: str | None = None,
        net: bool = False,
        *,
        config: SchedulerConfig | None = None,
        rt_priority: int = 50,
        workers: int = 4,
    ) -> None:
        if config is not None:
            tick_rate, watchdog_ms = config.tick_rate, config.watchdog_timeout_ms
            max_deadline_misses, cores = config.max_deadline_misses, config.cpu_cores or cores
            rt = rt or config.memory_locking or config.rt_scheduling_class
            recording, blackbox_mb = config.recording_enabled, config.black_box_size_mb
            telemetry = config.telemetry_endpoint
        if tick_rate <= 0:
            raise ValueError(f"tick_rate must be positive Hz (got {tick_rate!r})")
        if max_deadline_misses is not None and max_deadline_misses < 1:
            raise ValueError(f"max_deadline_misses must be at least 1 (got {max_deadline_misses!r})")
        if blackbox_mb < 0:
            raise ValueError(f"blackbox_mb is the black box's size in MB, 0 for none (got {blackbox_mb!r})")
        _warn_not_provided(net=net)
        self.tick_rate = float(tick_rate)
        self.rt = rt
        self.name = name or "scheduler"
        self.rt_priority = rt_priority
        self.watchdog_ms = watchdog_ms
        self.deterministic = deterministic
        self.cores = list(cores) if cores else None
        self.verbose = verbose
        self.blackbox_mb = blackbox_mb
        self.telemetry = telemetry
        # The registry, black box and telemetry, open while started.
        self._observe = Observability(self.name, blackbox_mb, telemetry)
        self._clock: Clock = VirtualClock() if deterministic else WallClock(spin=bool(rt))
        self._tape = Tape(self.name, recording)  # the flight recording, open while started
        # Python's collector, run between ticks while the loop runs (replay swaps the clock: read it late).
        self._collector = Collector(lambda: self._clock.now_ns())
        self._replay: ReplaySession | None = None
        self._workers = workers
        self._slots: dict[str, _Slot] = {}
        self._removals: set[str] = set()
        self._stop = threading.Event()
        # Failure policies, on_miss and max_deadline_misses: what a failure does, and whether to stop.
        self._failures = Failures(max_deadline_misses, self._stop, self._event)
        self._running = False
        self._started = False  # nodes initialised (by run, tick_once or tick_for), not yet shut down
        self._start_ns = 0
        self._tick = 0
        self._state: SchedulerState = "idle"
        self._rt_status: dict[str, Any] = {"requested": rt, "sched_fifo": False, "memory_locked": False}
        self._placed: placement.ThreadPlacement | None = None  # the thread as rt=/cores= found it, while started
        self._pool: ThreadPoolExecutor | None = None
        self._ready_hooks: list[Any] = []
        self._loop_hooks: list[Any] = []
        # READY=1, WATCHDOG=1 and STOPPING=1 to systemd when NOTIFY_SOCKET is set (Type=notify units).
        self._notifier = sdnotify.attach(self)

    # -- building -------------------------------------------------------------------

    def add(self, node: Node) -> Scheduler:
        if not isinstance(node, Node):
            raise TypeError(f"Scheduler.add expects a horus.Node, got {type(node).__name__}")
        if "_policy" not in vars(node):
            raise TypeError(f"{type(node).__name__}.__init__ must call super().__init__(...) before adding the node")
        if node.name in self._slots:
            raise ValueError(f"a node named {node.name!r} was already added: node names must be unique")
        if self._running or self._started:
            raise RuntimeError("add nodes before run(): the scheduler is already running")
        period = max(1.0 / node.rate, 1.0 / self.tick_rate)
        stats = NodeStats(node.name, 1.0 / period, node.policy.kind)
        watchdog = node.watchdog or self.watchdog_ms / 1000
        self._slots[node.name] = _Slot(
            node, stats, NodeInfo(node, stats), int(period * NS), deadline_ns=int(node.tick_deadline() * NS),
            budget_ns=int(node.tick_budget() * NS), watchdog_ns=int(watchdog * NS), index=len(self._slots),
        )  # fmt: skip
        return self

    def node(self, node: Node) -> NodeBuilder:
        """Upstream's builder: ``sched.node(n).rate(100).order(1).build()`` sets and adds `node`."""
        return NodeBuilder(self, node)

    def node_names(self) -> list[str]:
        return list(self._slots)

    get_node_names = node_names

    def has_node(self, node_name: str) -> bool:
        return node_name in self._slots

    def get_node_count(self) -> int:
        return len(self._slots)

    def set_node_rate(self, node_name: str, rate: float) -> None:
        """Change a node's rate, also while running; a budget or deadline it was not given follows."""
        if not rate > 0:
            raise ValueError(f"set_node_rate({node_name!r}, {rate!r}): the rate must be positive Hz")
        slot = self._slot(node_name)
        slot.node.rate = rate
        slot.period_ns = int(max(1.0 / rate, 1.0 / self.tick_rate) * NS)
        slot.deadline_ns = int(slot.node.tick_deadline() * NS)
        slot.budget_ns = int(slot.node.tick_budget() * NS)

    def remove_node(self, node_name: str) -> bool:
        """Remove a node: its shutdown runs and its topics close (after the current pass when running).

        Returns False when there is no such node.
        """
        if node_name not in self._slots:
            return False
        if self._running:
            self._removals.add(node_name)
        else:
            self._remove(node_name)
        return True

    def _slot(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(self._slots) or "none"
            raise NodeNotFoundError(f"no node named {name!r} in scheduler {self.name!r} (nodes: {known})")
        return slot

    # -- introspection (any thread) ---------------------------------------------------

    def get_node_stats(self, node_name: str) -> dict[str, Any]:
        slot = self._slot(node_name)
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

    def get_all_nodes(self) -> list[dict[str, Any]]:
        """Upstream's summary of every node: name, order, rate, state, policy, ticks, errors."""
        return [
            {"name": s.node.name, "order": s.node.order, "rate": NS / s.period_ns, "state": s.stats.state,
             "failure_policy": s.node.policy.kind, "total_ticks": s.stats.total_ticks, "errors": s.stats.errors_count}
            for s in self._ordered()
        ]  # fmt: skip

    def get_node_info(self, node_name: str) -> int | None:
        """The node's order, or None without such a node (upstream's meaning of it)."""
        slot = self._slots.get(node_name)
        return slot.node.order if slot else None

    def scheduler_name(self) -> str:
        return self.name

    def has_full_rt(self) -> bool:
        """Whether rt=True obtained both SCHED_FIFO and locked memory."""
        return bool(self._rt_status["sched_fifo"] and self._rt_status["memory_locked"])

    def capabilities(self) -> dict[str, Any]:
        """What this machine offers rt=True: preempt_rt, rt_priority_available, min/max_rt_priority."""
        return placement.capabilities()

    def degradations(self) -> list[str]:
        """What rt=True asked for and the system refused, each with what to grant."""
        return list(self._rt_status.get("problems", []))

    def set_tick_budget(self, node_name: str, budget_us: int) -> None:
        """Change a node's tick budget (microseconds), also while running."""
        if budget_us <= 0:
            raise ValueError(f"set_tick_budget({node_name!r}, {budget_us!r}): the budget must be positive microseconds")
        slot = self._slot(node_name)
        slot.node.budget = budget_us / 1e6
        slot.budget_ns = budget_us * 1000

    def add_critical_node(self, node_name: str, timeout_ms: int) -> None:
        """Mark a node safety-critical: a tick longer than `timeout_ms` calls enter_safe_state() on
        every node that has one, then stops the scheduler (run() raises NodeFailedError)."""
        if timeout_ms <= 0:
            raise ValueError(f"add_critical_node({node_name!r}, {timeout_ms!r}): the timeout must be positive ms")
        self._slot(node_name).critical_ns = int(timeout_ms * 1e6)

    def safety_stats(self) -> dict[str, Any]:
        stats = [s.stats for s in self._slots.values()]
        return {
            "state": self._state,
            "budget_overruns": sum(s.budget_overruns for s in stats),
            "deadline_misses": sum(s.deadline_misses for s in stats),
            "watchdog_expirations": sum(s.watchdog_expirations for s in stats),
            "degrade_activations": self._failures.miss_actions,
            "restarts": sum(s.restarts for s in stats),
            "errors": sum(s.errors_count for s in stats),
            "nodes": {s.name: s.health() for s in stats},
            "rt": dict(self._rt_status),
        }

    @property
    def max_deadline_misses(self) -> int | None:
        """Deadline misses of all nodes together after which the scheduler stops (None: never)."""
        return self._failures.max_deadline_misses

    @max_deadline_misses.setter
    def max_deadline_misses(self, value: int | None) -> None:
        self._failures.max_deadline_misses = value

    def status(self) -> SchedulerState:
        return self._state

    @property
    def _scheduler(self) -> Scheduler:
        # Upstream's Python Scheduler wraps its native one here; code written for upstream (its own
        # tests among it) reaches through it. Here the Scheduler is the one object.
        return self

    def is_running(self) -> bool:
        return self._running

    def current_tick(self) -> int:
        """Scheduler passes so far in which at least one node ticked."""
        return self._tick

    # -- recording and replay (horus.recording.recorder) ------------------------------------------

    def is_recording(self) -> bool:
        return self._tape.recorder is not None

    def stop_recording(self) -> list[str]:
        """Stop recording (the nodes keep running); returns the recording's segment files."""
        return self._tape.close()

    list_recordings = staticmethod(list_recordings)
    delete_recording = staticmethod(delete_recording)

    # Upstream's replay API (horus.recording.replay): recorded outputs published again on live topics.

    @staticmethod
    def replay_from(path: str | os.PathLike[str]) -> Scheduler:
        """A scheduler replaying every node of the recording at `path`; seek or pace it, then run()."""
        return Scheduler(name="replay").add_replay(path)

    def add_replay(self, path: str | os.PathLike[str], priority: int = 0, node: str | None = None) -> Scheduler:
        """Replay the recorded outputs of `node` (default: every node of the recording), ticking
        at order `priority`, alongside this scheduler's live nodes."""
        if self._replay is None:
            self._replay = ReplaySession()
        for replayed in self._replay.add(path, priority, node):
            self.add(replayed)
        return self

    def is_replaying(self) -> bool:
        return self._replay is not None

    def start_at_tick(self, tick: int) -> Scheduler:
        """Start the replay where the recorded nodes' tick `tick` began."""
        if tick < 0:
            raise ValueError(f"start_at_tick({tick!r}): ticks count from 0")
        self._replaying().start_tick = tick
        return self

    def stop_at_tick(self, tick: int) -> Scheduler:
        """End the replay after the recorded nodes' tick `tick`."""
        session = self._replaying()
        if tick < (session.start_tick or 0):
            raise ValueError(f"stop_at_tick({tick!r}) is before start_at_tick({session.start_tick})")
        session.stop_tick = tick
        return self

    def set_replay_speed(self, speed: float) -> Scheduler:
        """Play at `speed` times the recorded pace (0.01 to 100)."""
        session = self._replaying()
        session.set_speed(speed)
        for replayed in session.nodes:
            self.set_node_rate(replayed.name, NS / replayed.period_ns * speed)
        return self

    def set_replay_override(self, node_name: str, output_name: str, value: Any) -> Scheduler:
        """Publish `value` (any message) instead of what `node_name` recorded on `output_name`."""
        self._replaying().override(node_name, output_name, value)
        return self

    def _replaying(self) -> ReplaySession:
        if self._replay is None:
            raise RuntimeError("nothing is replayed here: call add_replay(DIR) or use Scheduler.replay_from(DIR) first")
        return self._replay

    def replay(self, path: str | os.PathLike[str]) -> list[Divergence]:
        """Run this scheduler's nodes through a recording's ticks (see horus.recording.recorder); returns
        the ticks whose sends differ from the recorded ones. Records of nodes not added are skipped."""
        if self._running or self._started:
            raise RuntimeError("replay needs a scheduler that is not running")
        records = load(path)
        self._clock = replay_clock = VirtualClock()
        self._start_ns, self._state, self._started = 0, "running", True
        for each in self._ordered():
            each.node._feed = Feed.empty()  # init and shutdown read nothing live either
            self._init(each, 0)
        divergences = []
        try:
            for record in records:
                slot = self._slots.get(record.node)
                if slot is None:
                    continue
                node = slot.node
                node.tick_count, node._feed, node._tap = record.tick, Feed(record), TickTap()
                replay_clock.sleep_until(record.t_ns)
                self._replayed_tick(slot, record.t_ns)
                if node._tap.sent != record.sent:
                    divergences.append(Divergence(node.name, record.tick, record.sent, node._tap.sent))
                node._tap, node._feed = None, Feed.empty()
        finally:
            self._finish()
            for slot in self._slots.values():
                slot.node._feed = None
        return divergences

    def _replayed_tick(self, slot: _Slot, t_ns: int) -> None:
        previous = clock.enter(self._context(slot, t_ns))
        try:
            slot.node._run_tick_with_error_handling(slot.info)
        except Exception as exc:  # as recorded, most likely: the comparison of sends tells
            slot.stats.record_error(describe_exception(exc))
        finally:
            clock.leave(previous)
        slot.node.tick_count += 1

    # -- control --------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the current pass; safe from any thread or a signal handler.

        A scheduler stepped with tick_once()/tick_for() and not running shuts its nodes down now.
        """
        self._stop.set()
        if self._started and not self._running:
            self._finish()

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
            if not self._started:  # tick_once/tick_for may have run the inits already
                self._start()
            self._loop(duration)
        finally:
            self._finish()
            restore()
        if self._failures.fatal:
            raise self._failures.fatal

    def tick_once(self, node_names: list[str] | None = None) -> None:
        """Tick every node (or only ``node_names``) once, in order, on this thread, now (due or
        not), then return.

        For tests and simulation stepping: the first call runs every init; stop() (or
        leaving a ``with`` block) runs the shutdowns. Raises NodeFailedError like run().
        """
        only = set(node_names) if node_names is not None else None
        if only is not None and only - set(self._slots):
            raise NodeNotFoundError(f"tick_once: no nodes named {sorted(only - set(self._slots))} in {self.name!r}")
        self._step()
        for slot in self._ordered():
            if slot.stats.state != "failed" and (only is None or slot.node.name in only):
                self._tick_inline(slot)
        self._tick += 1
        self._tape.flush()
        self._raise_fatal()

    def tick_for(self, duration: float, node_names: list[str] | None = None) -> None:
        """Run the loop for ``duration`` seconds (virtual ones when deterministic), then return
        without shutting down; only ``node_names`` tick when given."""
        only = set(node_names) if node_names is not None else None
        if only is not None and only - set(self._slots):
            raise NodeNotFoundError(f"tick_for: no nodes named {sorted(only - set(self._slots))} in {self.name!r}")
        self._step()
        self._running = True
        try:
            self._loop(duration, only)
            for slot in self._slots.values():  # a pool tick still running ends here, not in the next step
                if slot.future is not None:
                    slot.future.result()
                    self._collect(slot)
        finally:
            self._running = False
        self._raise_fatal()

    def _step(self) -> None:
        if self._running:
            raise RuntimeError("this scheduler is already running: tick_once/tick_for step a stopped one")
        self._stop.clear()
        if not self._started:
            self._start()

    def _raise_fatal(self) -> None:
        if self._failures.fatal:
            self._finish()
            raise self._failures.fatal

    # -- start and stop ---------------------------------------------------------------

    def _start(self) -> None:
        self._state = "starting"
        self._started = True
        _core.timer_slack_min()
        self._placed = placement.ThreadPlacement.of_this_thread() if self.rt or self.cores else None
        if self.rt:
            self._rt_status.update(placement.enter_realtime(self.rt_priority, self.name))
        if self.cores:
            placement.pin_cores(self.cores, self.name)
        self._tape.open()
        self._observe.open(self._tick, list(self._slots.values()), self._telemetry_sample)
        if os.environ.get("INVOCATION_ID"):  # systemd runs us: a robot in production
            Failures.check_policies(self._ordered())
        # Every node subscribed first, before the collection below takes its time: messages
        # published from the start on are theirs.
        for slot in self._ordered():
            slot.node.open_topics()
        self._collector.freeze()
        now = self._start_ns = self._clock.now_ns()
        for slot in self._ordered():
            if self.verbose:
                self._observe.describe([slot])
            slot.next_due = now
            self._init(slot, now)
        self._state = "running"
        for hook in self._ready_hooks:
            hook()

    def _finish(self) -> None:
        self._state = "stopping"
        try:
            if self._notifier is not None:
                self._notifier.stopping()
            self._shutdown_all()
            self.stop_recording()
            self._observe.close_blackbox(str(self._failures.fatal or "stopped"), self._tick)
            self._observe.close()
        finally:
            self._collector.thaw()
            if self._placed is not None:
                self._placed.restore()
                self._placed = None
            self._running = False
            self._started = False
            self._state = "failed" if self._failures.fatal else "stopped"

    def _ordered(self) -> list[_Slot]:
        """Nodes in tick order: by order, then as added (stable, so reproducible)."""
        return sorted(self._slots.values(), key=lambda s: s.node.order)

    # -- the loop ---------------------------------------------------------------------

    def _loop(self, duration: float | None, only: set[str] | None = None) -> None:
        clock = self._clock
        now = clock.now_ns()
        end = now + int(duration * NS) if duration is not None else None
        slots = [s for s in self._ordered() if only is None or s.node.name in only]
        events = any(s.node._horus_on for s in slots)
        with self._collector.pacing():
            self._passes(clock, end, slots, events)

    def _passes(self, clock: Clock, end: int | None, slots: list[_Slot], events: bool) -> None:
        """The loop proper: a pass of the due ticks, then collection if there is slack, then sleep."""
        while not self._stop.is_set():
            if self._removals:
                slots = self._apply_removals(slots)
            now = clock.now_ns()
            if end is not None and now >= end:
                break
            ticked = sum(self._service(slot, now) for slot in slots)
            self._tick += ticked > 0
            if any(slot.node._stop_requested for slot in slots):
                self._stop.set()
            for loop_hook in self._loop_hooks:
                loop_hook(now)
            self._tape.flush()
            wake = min(
                [s.resume_at if s.stats.state in ("suspended", "restarting") else s.next_due for s in slots],
                default=now + _MAX_SLEEP_NS,
            )
            wake = min(wake, now + _MAX_SLEEP_NS, end if end is not None else wake)
            if events or any(s.future is not None for s in slots):
                wake = min(wake, now + int(NS / self.tick_rate))
            self._collector.between_ticks(wake)
            if wake > now:
                clock.sleep_until(wake)

    def _apply_removals(self, slots: list[_Slot]) -> list[_Slot]:
        for name in list(self._removals):
            self._removals.discard(name)
            if name in self._slots:
                self._remove(name)
        return [s for s in slots if s.node.name in self._slots]

    def _remove(self, name: str) -> None:
        slot = self._slots.pop(name)
        if slot.future is not None:
            slot.future.result()
            slot.future = None
        if self._started:
            self._shutdown(slot)

    def _service(self, slot: _Slot, now: int) -> bool:
        """Tick `slot` if it is due; True when a tick started or ran."""
        state = slot.stats.state
        if state == "failed":
            return False
        if state in ("suspended", "restarting"):
            if now < slot.resume_at:
                return False
            slot.stats.set_state("running")
            slot.next_due = now
            if state == "restarting" or slot.needs_init:
                self._init(slot, now)
                return False
        if slot.future is not None:
            if slot.future.done():
                self._collect(slot)
            return False
        node = slot.node
        if node._horus_on is not None:
            if not node.has_msg(node._horus_on):
                return False
        elif now < slot.next_due:
            return False
        if slot.needs_init:  # an ignored init failure: keep trying it
            self._init(slot, now)
            if slot.needs_init:
                return False
        if slot.skip_next:  # on_miss="skip": this period is given up so the node catches up
            slot.skip_next = False
            self._advance(slot, now)
            return False
        executor = self._executor(slot)
        if executor is None:
            self._tick_inline(slot)
        else:
            slot.started_at = now
            slot.future = executor.submit(self._timed_tick, slot)
        return True

    def _executor(self, slot: _Slot) -> ThreadPoolExecutor | None:
        """Where the tick runs: None for the loop's own thread (always, when deterministic)."""
        node = slot.node
        if self.deterministic:
            return None
        if node.priority is not None or node.core is not None:
            if slot.thread is None:
                slot.thread = ThreadPoolExecutor(
                    1, thread_name_prefix=f"horus-{node.name}", initializer=placement.pin_thread, initargs=(node,)
                )
            return slot.thread
        if node.compute or node._horus_async:
            return self._pool_get()
        return None

    def _tick_inline(self, slot: _Slot) -> None:
        start, end, exc = self._timed_tick(slot)
        self._finish_tick(slot, start, end, exc)

    def _context(self, slot: _Slot, tick_start: int) -> TickContext:
        """The slot's tick context, brought up to date (one object per node: it runs one callback at a time)."""
        ctx = slot.ctx
        if ctx is None:
            ctx = slot.ctx = TickContext(self._clock, slot.node.name, 0, 0.0, 0, 0, None)
        ctx.clock, ctx.start_ns, ctx.tick, ctx.tick_start_ns = (
            self._clock,
            self._start_ns,
            slot.node.tick_count,
            tick_start,
        )
        ctx.dt, ctx.budget_ns, ctx._rng = slot.period_ns / NS, slot.budget_ns or None, None
        node = slot.node
        ctx.reads = node._feed if node._feed is not None else node._tap  # replaying, else recording
        return ctx

    def _timed_tick(self, slot: _Slot) -> tuple[int, int, BaseException | None]:
        if self._tape.recorder is not None:
            self._tape.watch(slot.node)
        ctx = self._context(slot, 0)
        previous = clock.enter(ctx)
        # Timed from here: the scheduler's own bookkeeping is not the node's budget.
        start = ctx.tick_start_ns = self._clock.now_ns()
        try:
            slot.node._run_tick_with_error_handling(slot.info)
            exc = None
        except Exception as e:
            exc = e
        finally:
            clock.leave(previous)
        return start, self._clock.now_ns(), exc

    def _collect(self, slot: _Slot) -> None:
        assert slot.future is not None
        start, end, exc = slot.future.result()
        slot.future = None
        self._finish_tick(slot, start, end, exc)

    def _finish_tick(self, slot: _Slot, start: int, end: int, exc: BaseException | None) -> None:
        node = slot.node
        if self._tape.recorder is not None:
            self._tape.keep(node, start - self._start_ns, describe_exception(exc) if exc is not None else None)
        node.tick_count += 1
        duration = end - start
        # An event-driven node has no due time: its deadline counts from when it started.
        due = start if slot.node._horus_on is not None else slot.next_due
        missed = end - due > slot.deadline_ns
        overran, expired = duration > slot.budget_ns, 0 < slot.watchdog_ns < duration
        slot.stats.record_tick(start, end, exc is None, missed, overran, expired)
        if missed:
            self._event(
                "DeadlineMiss", name=node.name, deadline_us=slot.deadline_ns // 1000, actual_us=(end - due) // 1000
            )
        if overran:
            self._event("BudgetViolation", name=node.name, budget_us=slot.budget_ns // 1000, actual_us=duration // 1000)
        self._advance(slot, end)
        if 0 < slot.critical_ns < duration:
            self._failures.critical_overrun(slot, duration, self._ordered())
        if missed:
            self._failures.missed(slot)
        if exc is not None:
            self._failures.failed(slot, exc, "tick", end)
        elif slot.restart_attempt:
            slot.restart_attempt = 0

    def _advance(self, slot: _Slot, end: int) -> None:
        """Next due on the grid of the period; periods that already passed are skipped, not replayed."""
        slot.next_due += slot.period_ns
        if slot.next_due <= end:
            behind = end - slot.next_due
            slot.next_due += (behind // slot.period_ns + 1) * slot.period_ns

    def _callback(self, slot: _Slot, phase: str, now: int) -> None:
        previous = clock.enter(self._context(slot, now))
        try:
            slot.node._invoke(phase, slot.info)
        finally:
            clock.leave(previous)

    def _init(self, slot: _Slot, now: int) -> None:
        slot.stats.set_state("initializing")
        try:
            self._callback(slot, "init", now)
        except Exception as exc:
            slot.stats.record_error(describe_exception(exc))
            self._failures.failed(slot, exc, "init", now)
            if slot.node.policy.kind == "ignore":
                slot.stats.set_state("running")
            return
        slot.needs_init = False
        if slot.stats.total_ticks == 0 and slot.restart_attempt == 0:
            slot.stats.started()
        else:
            slot.stats.set_state("running")

    def _telemetry_sample(self) -> tuple[int, dict[str, dict[str, Any]]]:
        return self._tick, {name: slot.stats.snapshot() for name, slot in list(self._slots.items())}

    def _event(self, kind: str, **fields: Any) -> None:
        self._observe.event(self._tick, kind, **fields)

    def _pool_get(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"horus-{self.name}")
        return self._pool

    def _shutdown_all(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for slot in reversed(self._ordered()):
            self._shutdown(slot)

    def _shutdown(self, slot: _Slot) -> None:
        node = slot.node
        if slot.thread is not None:
            slot.thread.shutdown(wait=True)
            slot.thread = None
        slot.future = None
        try:
            if not slot.needs_init or slot.stats.total_ticks:
                self._callback(slot, "shutdown", self._clock.now_ns())
        except Exception as exc:
            log.emit(log.ERROR, node.name, node.tick_count, f"shutdown failed: {describe_exception(exc)}")
        finally:
            node._close_loop()
            node.close_topics()
            slot.needs_init = True
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

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self.stop()


def _warn_not_provided(**options: object) -> None:
    """Upstream options this runtime does not provide yet: said once, loudly, never silently dropped."""
    for option, value in options.items():
        if value:
            warnings.warn(
                f"Scheduler({option}={value!r}) is not provided by this HORUS runtime; running without it",
                RuntimeWarning,
                stacklevel=3,
            )


def run(
    *nodes: Node,
    duration: float | None = None,
    tick_rate: float = 1000.0,
    rt: bool = False,
    name: str | None = None,
    **options: Any,
) -> Scheduler:
    """Run ``nodes`` in one scheduler until stopped; returns the (stopped) scheduler.

    ``options`` are the Scheduler's: deterministic, watchdog_ms, cores, max_deadline_misses, verbose, ...
    """
    sched = Scheduler(tick_rate=tick_rate, rt=rt, name=name, **options)
    for node in nodes:
        sched.add(node)
    sched.run(duration)
    return sched
