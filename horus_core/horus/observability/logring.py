"""The namespace's log ring: every process appends, `horus logs` reads across all of them.

    /dev/shm/horus.<namespace>/log      4096 records of up to 427 message bytes

Appending never blocks a tick (a full ring overwrites its oldest records) and
never raises: a node's log call must not be what fails it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .. import _core
from ..errors import HorusError
from ..messaging import namespace

_lock = threading.Lock()
_rings: dict[str, _core.LogRing | None] = {}
# How long one poll() waits, in all, on records still being written before it calls their writers
# dead. In all, not per record: a ring whose head another process moved far ahead shows every slot
# as unwritten, and 4096 of them at 0.2 s each would hold `horus logs` for 14 minutes.
STUCK_S = 0.2


def ring_path(ns: str | None = None) -> str:
    return str(namespace.directory(ns) / "log")


def _ring(ns: str) -> _core.LogRing | None:
    if ns not in _rings:
        with _lock:
            ring: _core.LogRing | None
            try:
                _core.ns_prepare(str(namespace.directory(ns)))
                ring = _core.LogRing(ring_path(ns))
            except (OSError, HorusError):
                # No /dev/shm, no permission, or a ring of a live older runtime: stderr and the
                # journal still get the record.
                ring = None
            _rings[ns] = ring
    return _rings[ns]


def _forget_in_child() -> None:
    _rings.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def ring(ns: str | None = None) -> _core.LogRing | None:
    """The namespace's ring, opened once per process; None where it cannot be (stderr and the journal still work)."""
    return _rings[ns] if ns in _rings else _ring(ns or namespace.current())


def append(level: int, node: str, tick: int, message: str, ns: str | None = None) -> None:
    r = ring(ns)
    if r is not None:
        r.append(level, node, tick, message)


@dataclass(frozen=True)
class Record:
    seq: int
    time_ns: int
    tick: int
    pid: int
    level: int
    truncated: bool
    node: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reader:
    """Reads the ring of a namespace from a position on, across every process that writes it."""

    def __init__(self, ns: str | None = None, last: int | None = None) -> None:
        self.ring = _core.LogRing(ring_path(ns), create=False)
        head = self.ring.head
        self.next = (
            max(0, head - min(last, self.ring.capacity)) if last is not None else max(0, head - self.ring.capacity)
        )
        self.missed = 0

    def poll(self) -> Iterator[Record]:
        """Every complete record available now; returns within about STUCK_S plus the reading."""
        import time

        give_up_at = None  # when this poll stops waiting for records being written
        while True:
            self.next, missed, rec, pending = self.ring.read(self.next)
            self.missed += missed
            if rec is not None:
                seq, time_ns, tick, pid, level, truncated, node, message = rec
                yield Record(seq, time_ns, tick, pid, level, bool(truncated), node, message)
                continue
            if not pending:
                return
            # A writer is mid-record: give it a moment; past that, it died there (or the slot was never
            # written: a corrupt head), and so did those of any other record still pending in this poll.
            now = time.monotonic()
            give_up_at = give_up_at or now + STUCK_S
            if now < give_up_at:
                time.sleep(0.001)
                continue
            self.next += 1
            self.missed += 1
