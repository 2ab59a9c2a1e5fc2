"""systemd notifications from the scheduler (the sd_notify protocol), pure Python.

With ``Type=notify`` systemd counts the service as started when the scheduler sends
READY=1, once every node's init has run, so units ordered after it start against a
robot that is really up. With ``WatchdogSec=`` systemd restarts the service when
WATCHDOG=1 stops arriving: it is sent from the scheduling loop itself, at half the
interval, so a hung loop is caught, not only a dead process. STOPPING=1 marks the start
of shutdown; STATUS= lines (``systemctl status``) say how many nodes are healthy.

The protocol: one datagram per notification, newline-separated ``KEY=VALUE`` lines, to
the AF_UNIX socket named by NOTIFY_SOCKET (a path, or ``@name`` in the abstract
namespace). Messages from a process other than the unit's main one are ignored unless
the unit says ``NotifyAccess=all``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..observability import log

# How often STATUS= is refreshed from node health (it is sent only when it changes).
STATUS_INTERVAL_NS = 1_000_000_000


class Schedulable(Protocol):
    """What the notifier needs of a horus.Scheduler."""

    name: str

    def on_ready(self, hook: Callable[[], None]) -> None: ...

    def on_loop(self, hook: Callable[[int], None]) -> None: ...

    def safety_stats(self) -> dict[str, Any]: ...


def socket_address(value: str) -> str:
    """NOTIFY_SOCKET as a socket address: a path, or ``@name`` for the abstract namespace."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    raise ValueError(
        f"NOTIFY_SOCKET={value!r} is neither a socket path nor an @abstract name "
        "(vsock: addresses are not supported); not notifying systemd"
    )


def watchdog_interval_ns(env: Mapping[str, str], pid: int) -> int:
    """systemd's watchdog interval for this process in ns, 0 if it has none.

    WATCHDOG_PID names the process systemd expects pings from; a child that inherited
    the variables must not ping on its parent's behalf.
    """
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return 0
    owner = env.get("WATCHDOG_PID")
    if owner and owner != str(pid):
        return 0
    if not usec.isdigit() or int(usec) == 0:
        raise ValueError(f"WATCHDOG_USEC={usec!r} is not a positive number of microseconds; not pinging the watchdog")
    return int(usec) * 1000


class Notifier:
    """Sends notifications to systemd. Never raises and never blocks: a lost one is counted."""

    def __init__(self, address: str, watchdog_ns: int = 0) -> None:
        self.address = address
        self.watchdog_ns = watchdog_ns
        self.sent = 0
        self.failed = 0
        self.last_error = ""
        self._next_ping = 0
        self._next_status = 0
        self._status = ""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier | None:
        """A notifier if NOTIFY_SOCKET is set, else None. ValueError (saying what is wrong) on bad values."""
        value = env.get("NOTIFY_SOCKET")
        if not value:
            return None
        return cls(socket_address(value), watchdog_interval_ns(env, os.getpid()))

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines as one notification; False (and ``last_error``) if it was lost."""
        try:
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            self.failed += 1
            self.last_error = f"sending {lines[0]!r} to NOTIFY_SOCKET failed: {exc}"
            return False
        self.sent += 1
        return True

    def attach(self, scheduler: Schedulable) -> None:
        """READY=1 after every init, WATCHDOG=1 and STATUS= from the loop; call stopping() at shutdown."""

        def ready() -> None:
            self._status = _status_line(scheduler)
            self._report(scheduler, self.notify("READY=1", f"STATUS={self._status}"))

        def loop(now_ns: int) -> None:
            if self.watchdog_ns and now_ns >= self._next_ping:
                # Half the interval, as sd_watchdog_enabled(3) advises: one late pass is not a restart.
                self._next_ping = now_ns + self.watchdog_ns // 2
                self._report(scheduler, self.notify("WATCHDOG=1"))
            if now_ns >= self._next_status:
                self._next_status = now_ns + STATUS_INTERVAL_NS
                status = _status_line(scheduler)
                if status != self._status:
                    self._status = status
                    self._report(scheduler, self.notify(f"STATUS={status}"))

        scheduler.on_ready(ready)
        scheduler.on_loop(loop)

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def _report(self, scheduler: Schedulable, ok: bool) -> None:
        # The first failure only: a broken socket would otherwise log at watchdog cadence.
        if not ok and self.failed == 1:
            log.emit(log.WARNING, scheduler.name, 0, f"systemd notify: {self.last_error}")

    def close(self) -> None:
        self._sock.close()


def _status_line(scheduler: Schedulable) -> str:
    """``3 nodes: 2 healthy, camera unhealthy`` for systemctl status."""
    nodes: dict[str, str] = scheduler.safety_stats()["nodes"]
    ok = sum(health in ("healthy", "warning") for health in nodes.values())
    bad = [f"{name} {health}" for name, health in nodes.items() if health not in ("healthy", "warning")]
    return ", ".join([f"{len(nodes)} nodes: {ok} healthy", *bad])


def attach(scheduler: Schedulable, env: Mapping[str, str] = os.environ) -> Notifier | None:
    """Notify systemd about ``scheduler`` if NOTIFY_SOCKET is set; a bad value is logged, never fatal."""
    try:
        notifier = Notifier.from_env(env)
    except ValueError as exc:
        log.emit(log.WARNING, scheduler.name, 0, str(exc))
        return None
    if notifier is not None:
        notifier.attach(scheduler)
    return notifier
