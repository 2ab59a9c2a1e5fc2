"""Python's garbage collector runs between a scheduler's ticks, not inside them (horus/runtime/collector.py)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import horus
import pytest


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    freed = 0

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed += 1


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The monotonic time at which each collection started, from gc's own callbacks."""
    started: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.monotonic_ns())

    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(callback)
    try:
        yield started
    finally:
        gc.callbacks.remove(callback)
        (gc.enable if was else gc.disable)()


def run_cycling_node(seconds: float) -> list[tuple[int, int]]:
    """A 200 Hz node that leaves 300 cycles behind each tick; (start, end) of every tick."""
    ticks: list[tuple[int, int]] = []

    def tick(node: horus.Node) -> None:
        start = time.monotonic_ns()
        for _ in range(300):
            Cycle()
        ticks.append((start, time.monotonic_ns()))

    horus.run(horus.Node(name="cycler", tick=tick, rate=200), duration=seconds)
    return ticks


def test_collections_run_between_ticks_and_free_every_cycle(ns: str, collections: list[int]) -> None:
    Cycle.freed = 0
    ticks = run_cycling_node(0.5)
    during = [t for t in collections if ticks[0][0] <= t <= ticks[-1][1]]
    assert len(during) >= len(ticks) // 4  # 300 cycles a tick cross gc's threshold every few ticks
    inside = [t for t in during if any(start <= t <= end for start, end in ticks)]
    assert not inside, f"{len(inside)} of {len(during)} collections started inside a tick"
    assert Cycle.freed >= 300 * (len(ticks) - 3)  # all but the last few ticks' cycles freed while running
    # Collection is CPython's again after the loop, with nothing left frozen.
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_process_that_disabled_gc_keeps_it_disabled(ns: str, collections: list[int]) -> None:
    gc.disable()
    run_cycling_node(0.2)
    assert not collections and not gc.isenabled()
    gc.collect()


def test_what_imports_left_in_cycles_is_freed_before_the_heap_is_frozen_and_inits_stay_collectable(
    ns: str,
) -> None:
    Cycle.freed = 0
    gc.collect()
    gc.disable()  # no automatic collection from here: only the scheduler's
    try:
        left = [Cycle() for _ in range(50)]  # garbage from before the start, as imports leave
        del left
        gc.enable()
        made_at_init: list[Cycle] = []

        def init(node: horus.Node) -> None:
            made_at_init.extend(Cycle() for _ in range(20))

        sched = horus.Scheduler(tick_rate=100)
        sched.add(horus.Node(name="idle", init=init, tick=lambda n: None, rate=100))
        sched.tick_once()  # started: the heap is frozen now
        assert Cycle.freed == 50 and gc.get_freeze_count() > 0
        made_at_init.clear()  # what an init made is not frozen: a collection frees it while started
        gc.collect()
        assert Cycle.freed == 70
        sched.stop()
    finally:
        gc.enable()
    assert gc.get_freeze_count() == 0
