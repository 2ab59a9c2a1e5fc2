"""Update holds: a node says the robot is busy (carrying a load, docking), and a deploy waits at its
switch instead of restarting the node's processes.

    with horus.UpdateHold("docking"):       # nestable; several holders at once, in any processes
        dock()

    /dev/shm/horus.<namespace>/holds/<pid>.<n>.hold      one file per hold (0600), JSON:
        {"reason": ..., "holder": ..., "pid": ..., "since": <unix time>, "until": <unix time> | null}

A process's hold keeps an exclusive flock on its file while it is held, so it ends when the process
does, however it ends. An operator's hold (`horus updates hold --reason TEXT --for 2h`) has an
`until` and no lock; `horus updates release` ends those. A hold is live while its lock is held or its
`until` is ahead. A deploy lists live holds with `horus updates --json` (the release's own runtime, as
the service user) and waits at its switch; it never waits to go back to a confirmed release.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from .. import _core
from ..messaging import namespace

SUFFIX = ".hold"
# A hold file's JSON: reason and holder are shown to operators, so they are bounded and printable.
MAX_FILE = 4096
MAX_TEXT = 200
_counter = itertools.count()
_lock = threading.Lock()


@dataclass(frozen=True)
class Hold:
    """One live hold, as `horus updates` lists it."""

    reason: str
    holder: str
    pid: int
    since: float
    until: float | None
    path: str


def holds_dir(ns: str | None = None) -> Path:
    return namespace.directory(ns) / "holds"


def _printable(text: object) -> str:
    """Text from a hold file (any process of the user may write one) as one plain line."""
    return "".join(c if c.isprintable() else "?" for c in str(text))[:MAX_TEXT]


def _prepare(ns: str | None) -> Path:
    _core.ns_prepare(str(namespace.directory(ns)))
    path = holds_dir(ns)
    _core.ns_prepare(str(path))
    return path


def _create(reason: str, until: float | None, ns: str | None) -> tuple[int, str]:
    """A new hold file, locked (a process hold) or not (until set); its descriptor and path."""
    directory = _prepare(ns)
    with _lock:
        n = next(_counter)
    path = directory / f"{os.getpid()}.{n}{SUFFIX}"
    if until is not None:
        path = directory / f"operator.{int(time.time() * 1e6)}.{n}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    if until is None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # before the content: a reader sees a locked (live) file
    holder = "operator" if until is not None else _printable(" ".join(sys.argv[:1]) or "python")
    body = {"reason": _printable(reason), "holder": holder, "pid": os.getpid(), "since": time.time(), "until": until}
    os.write(fd, json.dumps(body).encode())
    return fd, str(path)


class UpdateHold:
    """While entered, deploys wait at their switch (up to the inventory's horus_robot_hold_timeout).

    Nestable: each `with` on the same object (or another) adds a hold; each exit removes its own.
    A process that dies releases its holds at once (the kernel drops the file lock).
    """

    def __init__(self, reason: str = "busy", *, namespace: str | None = None) -> None:
        self.reason = reason
        self.namespace = namespace
        self._held: list[tuple[int, str]] = []

    def __enter__(self) -> UpdateHold:
        self._held.append(_create(self.reason, None, self.namespace))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """End the innermost hold of this object (what leaving its `with` does)."""
        if not self._held:
            return
        fd, path = self._held.pop()
        with contextlib.suppress(OSError):  # removed by `horus clean --shm --force`: nothing left to end
            os.unlink(path)
        os.close(fd)

    @property
    def held(self) -> bool:
        return bool(self._held)


def hold_for(reason: str, seconds: float, ns: str | None = None) -> Path:
    """An operator's hold that ends by itself after `seconds` (or by `release_operator_holds`)."""
    if not 0 < seconds <= 90 * 86400:
        raise ValueError(f"--for {seconds:g}s: a hold lasts from a second to 90 days")
    fd, path = _create(reason, time.time() + seconds, ns)
    os.close(fd)
    return Path(path)


def _read(path: Path) -> Hold | None:
    """The hold a file holds if it is live, else None (a dead holder's file is removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            locked = False
        except BlockingIOError:
            locked = True
        data = os.read(fd, MAX_FILE)
    finally:
        os.close(fd)
    try:
        body = json.loads(data)
        until = body.get("until")
        until = float(until) if until is not None else None
        hold = Hold(
            _printable(body.get("reason", "")),
            _printable(body.get("holder", "")),
            int(body.get("pid", 0)),
            float(body.get("since", 0)),
            until,
            str(path),
        )
    except (ValueError, TypeError, AttributeError):
        hold = Hold("(unreadable hold file)", "?", 0, 0.0, None, str(path))
    if locked or (hold.until is not None and hold.until > time.time()):
        return hold
    with contextlib.suppress(OSError):
        path.unlink()  # its holder is gone, or its time is up
    return None


def live_holds(ns: str | None = None) -> list[Hold]:
    """Every live hold of the namespace, oldest first."""
    directory = holds_dir(ns)
    try:
        names = sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
    except OSError:
        return []
    holds = [h for h in map(_read, names) if h is not None]
    return sorted(holds, key=lambda h: h.since)


def release_operator_holds(ns: str | None = None) -> int:
    """End every operator hold (those with an `until`); processes' holds end with their `with`."""
    ended = 0
    for hold in live_holds(ns):
        if hold.until is not None:
            Path(hold.path).unlink(missing_ok=True)
            ended += 1
    return ended


def as_json(holds: list[Hold]) -> str:
    return json.dumps([asdict(h) for h in holds])
