"""systemd notify from a real scheduler in a child process, received on a real notify socket."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import statistics
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from horus.runtime import sdnotify
from horus_procs import Py

UCRED = struct.Struct("3i")  # pid, uid, gid


@dataclass
class Message:
    lines: list[str]
    pid: int
    at: float


class NotifySocket:
    """What systemd's notify socket does for us: receive datagrams with the sender's credentials."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # systemd attributes each message to a pid from SCM_CREDENTIALS; so do we.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)

    @property
    def env_value(self) -> str:
        return "@" + self.address[1:] if self.address.startswith("\0") else self.address

    def receive(self, timeout: float = 10) -> Message:
        self.sock.settimeout(timeout)
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        pid = next(UCRED.unpack(p)[0] for lvl, kind, p in ancillary if kind == socket.SCM_CREDENTIALS)
        return Message(data.decode().split("\n"), pid, time.monotonic())

    def nothing_more(self) -> bool:
        try:
            self.receive(timeout=0.2)
        except TimeoutError:
            return True
        return False

    def until(self, line: str, timeout: float = 10) -> list[Message]:
        """Every message up to and including the one with ``line``."""
        messages = [self.receive(timeout)]
        while line not in messages[-1].lines:
            messages.append(self.receive(timeout))
        return messages


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    with tempfile.TemporaryDirectory(prefix="hn") as tmp:  # short: AF_UNIX paths fit in 108 bytes
        sock = NotifySocket(f"{tmp}/notify")
        yield sock
        sock.sock.close()


# Each init also reports itself on the socket, so the test sees READY=1 came after both.
SCHEDULER = """
import os, socket, sys, time, horus
address = os.environ["NOTIFY_SOCKET"].replace("@", "\\0", 1)
marker = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
def init(node):
    time.sleep(0.05)
    marker.sendto(f"X_INIT={node.name}".encode(), address)
def flaky(node):
    if os.environ.get("FAIL"):
        raise RuntimeError("sensor unplugged")
sched = horus.Scheduler(tick_rate=200)
sched.add(horus.Node(name="camera", init=init, tick=lambda n: None, rate=100))
sched.add(horus.Node(name="motor", init=init, tick=flaky, rate=100, failure_policy="skip"))
sched.run(float(sys.argv[1]) if len(sys.argv) > 1 else None)
"""


def start(py: Py, monkeypatch: pytest.MonkeyPatch, notify: NotifySocket, *args: str, **env: str) -> int:
    monkeypatch.setenv("NOTIFY_SOCKET", notify.env_value)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return py.start(SCHEDULER, *args).pid


def test_ready_after_every_init_then_watchdog_at_half_the_interval_then_stopping(
    ns: str, py: Py, monkeypatch: pytest.MonkeyPatch, notify_socket: NotifySocket
) -> None:
    pid = start(py, monkeypatch, notify_socket, "1.2", WATCHDOG_USEC="200000")
    messages = notify_socket.until("STOPPING=1")
    assert {m.pid for m in messages} == {pid}
    firsts = [m.lines[0] for m in messages]
    assert firsts[:3] == ["X_INIT=camera", "X_INIT=motor", "READY=1"]
    assert messages[2].lines[1] == "STATUS=2 nodes: 2 healthy"
    pings = [m.at for m in messages if m.lines == ["WATCHDOG=1"]]
    assert firsts[3:] == ["WATCHDOG=1"] * len(pings) + ["STOPPING=1"]
    assert 9 <= len(pings) <= 14  # 1.2 s at one ping per 100 ms
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert 0.08 < statistics.median(gaps) < 0.13
    assert max(gaps) < 0.2, "a gap of WATCHDOG_USEC would have systemd kill the service"
    assert py.procs[0].wait(10) == 0
    assert notify_socket.nothing_more()


def test_sigterm_sends_stopping_and_abstract_sockets_work(ns: str, py: Py, monkeypatch: pytest.MonkeyPatch) -> None:
    notify = NotifySocket(f"\0horus-test-{uuid.uuid4().hex}")
    with notify.sock:
        pid = start(py, monkeypatch, notify)
        assert [m.lines[0] for m in notify.until("READY=1")] == ["X_INIT=camera", "X_INIT=motor", "READY=1"]
        os.kill(pid, signal.SIGTERM)
        assert notify.receive().lines == ["STOPPING=1", "STATUS=stopping"]
        assert py.procs[0].wait(10) == 0
        assert notify.nothing_more()


def test_no_watchdog_pings_for_another_process(
    ns: str, py: Py, monkeypatch: pytest.MonkeyPatch, notify_socket: NotifySocket
) -> None:
    # WATCHDOG_PID names the main process; a child that inherited the variables stays quiet.
    start(py, monkeypatch, notify_socket, "0.4", WATCHDOG_USEC="100000", WATCHDOG_PID=str(os.getpid()))
    firsts = [m.lines[0] for m in notify_socket.until("STOPPING=1")]
    assert firsts == ["X_INIT=camera", "X_INIT=motor", "READY=1", "STOPPING=1"]


def test_status_names_an_unhealthy_node(
    ns: str, py: Py, monkeypatch: pytest.MonkeyPatch, notify_socket: NotifySocket
) -> None:
    start(py, monkeypatch, notify_socket, "0.5", FAIL="1")
    statuses = [line for m in notify_socket.until("STOPPING=1") for line in m.lines if line.startswith("STATUS=")]
    assert "STATUS=2 nodes: 1 healthy, motor unhealthy" in statuses


def test_a_bad_notify_socket_is_reported_and_the_scheduler_runs_anyway(
    ns: str, py: Py, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    done = py.run("import horus; horus.run(horus.Node(name='n', tick=lambda n: None), duration=0.1); print('ran')")
    assert done.returncode == 0 and done.stdout == "ran\n"
    assert "NOTIFY_SOCKET='vsock:2:1234' is neither a socket path nor an @abstract name" in done.stderr


def test_watchdog_settings_are_validated() -> None:
    assert sdnotify.watchdog_interval_ns({"WATCHDOG_USEC": "30000000"}, 7) == 30_000_000_000
    assert sdnotify.watchdog_interval_ns({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, 7) == 0
    assert sdnotify.watchdog_interval_ns({}, 7) == 0
    with pytest.raises(ValueError, match="WATCHDOG_USEC='soon' is not a positive number"):
        sdnotify.watchdog_interval_ns({"WATCHDOG_USEC": "soon"}, 7)
    assert sdnotify.socket_address("@x") == "\0x"
