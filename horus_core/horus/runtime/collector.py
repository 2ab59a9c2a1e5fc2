"""Python's cyclic garbage collector, run between ticks instead of inside them.

Left to itself the collector runs when container allocations cross a threshold: inside whichever
tick is allocating then, for as long as the heap takes (tens to hundreds of microseconds for a
young generation, milliseconds for a full pass), which is most of a 1 kHz node's p99 lateness
when gc is on. While a scheduler's loop runs, `Collector` switches automatic collection off and
runs the same generation CPython would have (its thresholds and counts) itself, right after a
pass of ticks, when the next tick is far enough away for that generation's last collection to
fit twice. A loop that never has that slack still collects, at once, when allocations reach four
times the threshold: cycles are freed either way, only the moment moves.

When a scheduler starts, before its nodes' inits, one full collection frees what imports left in
cycles and the rest (modules, classes, functions: most of a process's objects) is frozen
(`gc.freeze`) until the scheduler stops: full passes do not walk it again. What the inits make
stays within the collector's reach. Leaving the loop gives collection back to CPython. A process
that disabled gc itself (a node that knows it allocates nothing) is left as it is.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Collect anyway, slack or not, once generation 0's count is this many times its threshold.
FORCE_AFTER = 4
# What a collection is assumed to cost before one of that generation has been timed.
FIRST_GUESS_NS = 100_000


class Collector:
    """Runs the cyclic collector between a scheduler's ticks (see the module's docstring)."""

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now_ns = now_ns
        self._active = False
        self._frozen = False
        self._thresholds = (0, 0, 0)
        self._cost_ns = [FIRST_GUESS_NS] * 3  # each generation's last collection, timed

    def freeze(self) -> None:
        """At the scheduler's start, before the inits: collect once, then freeze what is left."""
        if gc.isenabled() and not self._frozen:
            gc.collect()
            gc.freeze()
            self._frozen = True

    def thaw(self) -> None:
        """At the scheduler's stop: the frozen objects are the collector's again."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    @contextmanager
    def pacing(self) -> Iterator[None]:
        """Take collection over for the duration of a loop; give it back as found."""
        if not gc.isenabled():
            yield
            return
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._active = True
        try:
            yield
        finally:
            self._active = False
            gc.enable()

    def between_ticks(self, next_due_ns: int) -> None:
        """Collect what CPython would have collected by now, if the slack until `next_due_ns` allows it."""
        if not self._active:
            return
        count0, count1, count2 = gc.get_count()
        t0, t1, t2 = self._thresholds
        if t0 == 0 or count0 <= t0:  # the common case: one C call and a comparison
            return
        # CPython's choice (gc_collect_generations): the oldest generation whose count passed its threshold.
        generation = 2 if count2 > t2 else 1 if count1 > t1 else 0
        start = self._now_ns()
        if next_due_ns - start < 2 * self._cost_ns[generation] and count0 < FORCE_AFTER * t0:
            return  # not enough time before the next tick: after a later one
        began = time.perf_counter_ns()
        gc.collect(generation)
        self._cost_ns[generation] = time.perf_counter_ns() - began
