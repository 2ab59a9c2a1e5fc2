"""The framework clock a node reads while it runs: horus.now(), dt(), elapsed(), tick(),
budget_remaining(), rng_float(), timestamp_ns(), as upstream HORUS.

The scheduler sets a tick context around every init/tick/shutdown call, on the thread
that runs it (compute and pinned nodes tick on other threads, so it is thread-local).
Outside a callback: now() is the monotonic clock, dt() and elapsed() are 0, tick() is 0,
budget_remaining() is infinite and rng_float() draws from system entropy.

A scheduler runs on a WallClock (CLOCK_MONOTONIC, absolute sleeps) or, with
deterministic=True, on a VirtualClock: time stands still while nodes run and jumps to
the next due time instead of sleeping, so a run's ticks, order and random draws are
the same every time and on every machine.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _core

NS = 1_000_000_000


# A real-time scheduler's spin before each deadline: sized between these to the wake-ups seen.
SPIN_MIN_NS = 20_000
SPIN_MAX_NS = 300_000


class WallClock:
    """CLOCK_MONOTONIC; sleeps release the GIL and never drift (absolute deadlines).

    With `spin` (a scheduler with rt=True), each sleep ends with a spin on the clock (as upstream's
    real-time executor does): a sleep wakes late by the kernel's and, on a VM, the hypervisor's
    wake-up latency, which is most of a 1 kHz loop's p99 lateness (here: 50-200 us asleep, 2-3 us
    with a 200 us spin). The spin is sized to this machine: a quarter more than the latest wake-up
    was late, decaying by 1/4096 a sleep (about 4 s at 1 kHz) so one slow wake-up does not cost
    CPU for long, between SPIN_MIN_NS and SPIN_MAX_NS. A robot with a real-time kernel wakes on time
    and spins little; a VM spins up to 30 % of a core at 1 kHz.
    """

    deterministic = False

    def __init__(self, spin: bool = False) -> None:
        self.spin_ns = SPIN_MAX_NS if spin else 0  # 0: no spin; else the most cautious first, then shrinking

    def now_ns(self) -> int:
        return _core.now_ns()

    def sleep_until(self, t_ns: int) -> None:
        if not self.spin_ns:
            _core.sleep_until(t_ns)
            return
        overslept = _core.sleep_until_spin(t_ns, self.spin_ns)
        decayed = self.spin_ns - (self.spin_ns >> 12)
        self.spin_ns = min(SPIN_MAX_NS, max(SPIN_MIN_NS, overslept + (overslept >> 2), decayed))


class VirtualClock:
    """Simulated time: starts at 0 and moves only when the scheduler would sleep."""

    deterministic = True

    def __init__(self) -> None:
        self._t = 0

    def now_ns(self) -> int:
        return self._t

    def sleep_until(self, t_ns: int) -> None:
        self._t = max(self._t, t_ns)


Clock = WallClock | VirtualClock


def seeded_rng(tick: int, node: str) -> random.Random:
    """The deterministic RNG of one node's tick: the same (tick, node) always draws the same numbers."""
    digest = hashlib.blake2b(f"{tick}\0{node}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


class Reads(Protocol):
    """Where a tick's clock readings and random draws go while it is recorded, or come from while it
    is replayed (horus.recording.recorder's TickTap and Feed), so a replay sees the values the tick saw."""

    def reading(self, kind: str, read: Callable[[], Any]) -> Any: ...


@dataclass
class TickContext:
    """What one running callback may ask the framework clock."""

    clock: Clock
    node: str
    tick: int
    dt: float  # seconds: the node's nominal period
    start_ns: int  # when the scheduler started, on `clock`
    tick_start_ns: int
    budget_ns: int | None
    _rng: random.Random | None = field(default=None, repr=False)
    reads: Reads | None = None  # recording or replaying this tick

    def read(self, kind: str, value: Callable[[], Any]) -> Any:
        """value(), recorded or replayed with the tick when it is (see Reads)."""
        return self.reads.reading(kind, value) if self.reads else value()

    def rng(self) -> random.Random:
        if self._rng is None:
            # Seeded only in deterministic mode: elsewhere two robots must not draw alike.
            self._rng = seeded_rng(self.tick, self.node) if self.clock.deterministic else random.Random()
        return self._rng


_local = threading.local()
_entropy = random.SystemRandom()


def enter(ctx: TickContext) -> TickContext | None:
    """Make `ctx` current on this thread; returns the previous one for leave()."""
    previous: TickContext | None = getattr(_local, "ctx", None)
    _local.ctx = ctx
    return previous


def leave(previous: TickContext | None) -> None:
    _local.ctx = previous


def current() -> TickContext | None:
    return getattr(_local, "ctx", None)


def now() -> float:
    """Framework time in seconds: monotonic, or virtual in a deterministic scheduler."""
    ctx = current()
    return (ctx.read("@now", ctx.clock.now_ns) if ctx else _core.now_ns()) / NS


def timestamp_ns() -> int:
    """Framework time in nanoseconds (what transforms and message stamps are compared with)."""
    ctx = current()
    return ctx.read("@now", ctx.clock.now_ns) if ctx else _core.now_ns()


def dt() -> float:
    """The nominal timestep of this tick (1/rate), in seconds; 0 outside a tick."""
    ctx = current()
    return ctx.dt if ctx else 0.0


def elapsed() -> float:
    """Seconds since the scheduler started; 0 outside a tick."""
    ctx = current()
    return ctx.read("@elapsed", lambda: (ctx.clock.now_ns() - ctx.start_ns) / NS) if ctx else 0.0


def tick() -> int:
    """This node's tick number (0 for its first tick); 0 outside a tick."""
    ctx = current()
    return ctx.tick if ctx else 0


def budget_remaining() -> float:
    """Seconds left of this tick's budget (never negative); inf outside a tick or without a budget."""
    ctx = current()
    if ctx is None or ctx.budget_ns is None:
        return float("inf")
    used = ctx.read("@used", lambda: ctx.clock.now_ns() - ctx.tick_start_ns)
    return max(ctx.budget_ns - used, 0) / NS


def rng_float() -> float:
    """A float in [0, 1): tick-seeded in a deterministic scheduler, system entropy otherwise."""
    ctx = current()
    return ctx.read("@rng", ctx.rng().random) if ctx else _entropy.random()


class Rate:
    """Keep a loop at ``hz`` outside a scheduler: ``rate = horus.Rate(50); while ...: work(); rate.sleep()``.

    Sleeps to absolute deadlines (no drift); a loop that falls more than a period behind
    starts a new grid instead of bursting to catch up.
    """

    def __init__(self, hz: float) -> None:
        if not hz > 0:
            raise ValueError(f"Rate needs a positive frequency in Hz (got {hz!r})")
        self._hz = float(hz)
        self._period_ns = int(NS / hz)
        self.reset()

    def reset(self) -> None:
        self._next = _core.now_ns() + self._period_ns
        self._last_wake = 0
        self._interval_ns = 0.0
        self._late = False

    def sleep(self) -> None:
        now = _core.now_ns()
        self._late = now > self._next
        if self._late:
            self._next = now + self._period_ns  # too far behind: start a new grid
        else:
            _core.sleep_until(self._next)
            self._next += self._period_ns
        woke = _core.now_ns()
        if self._last_wake:
            interval = woke - self._last_wake
            # A moving average over about 10 periods: what the loop achieves lately.
            self._interval_ns = interval if not self._interval_ns else 0.9 * self._interval_ns + 0.1 * interval
        self._last_wake = woke

    def actual_hz(self) -> float:
        """The achieved rate lately (0 until two sleeps have returned)."""
        return NS / self._interval_ns if self._interval_ns else 0.0

    def target_hz(self) -> float:
        return self._hz

    def period(self) -> float:
        return self._period_ns / NS

    def is_late(self) -> bool:
        """True when the last sleep() found the loop already past its deadline."""
        return self._late

    def __repr__(self) -> str:
        return f"Rate({self._hz:g} Hz)"
