"""Node log records to journald through its native datagram protocol, without libsystemd.

Under systemd, ``journalctl -u <unit> HORUS_NODE=camera -p warning`` needs each record
as its own journal entry with fields, which the stdout/stderr stream cannot carry. So
when stderr *is* the unit's journal stream (``JOURNAL_STREAM``), each record goes as one
datagram to journald's socket with MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, HORUS_NODE,
HORUS_TICK, HORUS_PID and CODE_FILE/CODE_LINE/CODE_FUNC.

Wire format (systemd's sd_journal_sendv and journald-native.c): one field per line,
``KEY=value\\n``; a value containing a newline goes as ``KEY\\n`` + little-endian u64
length + value + ``\\n``. A datagram larger than the socket allows is written to a
sealed memfd instead and the descriptor passed with SCM_RIGHTS in an empty datagram.

Never blocks a tick: the socket is non-blocking and a record that does not fit in
journald's queue is dropped and counted (``sink.dropped``).

A node may log every tick, so the record is built and sent by the native core
(``_core.Journal``, csrc/journal.c) in the call that also appends it to the log ring,
on a socket connected to journald's once; only the memfd fallback is Python's.
``encode_field`` and ``syslog_priority`` state the format in Python, as the reference
the tests hold the native encoder to.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from .. import _core
from .._core import LogRing

SOCKET_PATH = "/run/systemd/journal/socket"

# syslog priorities journald filters on (-p): log.DEBUG/INFO/WARNING/ERROR are 10/20/30/40.
_PRIORITIES = ((40, b"3"), (30, b"4"), (20, b"6"))
_DEBUG_PRIORITY = b"7"

# The logging plumbing between a node's code and the sink: CODE_* names the first frame
# outside these files, i.e. the user's tick for node.log_*(), or the scheduler for its own records.
_PLUMBING = {str(Path(__file__).with_name(name)) for name in ("journal.py", "log.py", "node.py")}
_MAX_FRAMES = 8

_MEMFD_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def syslog_priority(level: int) -> bytes:
    """The syslog priority digit for a horus.observability.log level (unknown levels map to the one below)."""
    for threshold, priority in _PRIORITIES:
        if level >= threshold:
            return priority
    return _DEBUG_PRIORITY


def encode_field(key: bytes, value: bytes) -> bytes:
    """One field as journald parses it: the binary form only where a newline requires it."""
    if b"\n" in value:
        return key + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return key + b"=" + value + b"\n"


def stderr_is_journal_stream(env: Mapping[str, str] = os.environ, fd: int = 2) -> bool:
    """True when ``fd`` is the stream systemd connected to the journal.

    JOURNAL_STREAM ("device:inode") is inherited by children whose stderr was
    redirected (a shell pipeline, a log file); only a matching fstat() means that
    writing to stderr reaches the journal, so only then is the native protocol used.
    """
    value = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def default_identifier() -> str:
    """The unit's name (from our cgroup), else the program's: what ``journalctl -t`` matches.

    For stream lines (print()) systemd uses SyslogIdentifier=, else the executable's
    name, which for a Python node is "python3" and says nothing; the unit's name is what
    a unit file would set SyslogIdentifier= to, so both kinds of line usually match.
    """
    unit = _unit_from_cgroup(Path("/proc/self/cgroup"))
    if unit:
        return unit
    program = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return program or "horus"


def _unit_from_cgroup(path: Path) -> str:
    """``x`` from ``0::/system.slice/x.service[/sub]`` (cgroup v2) or ``N:name=systemd:...`` (v1), else ""."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, cgroup = rest.partition(":")
        if hierarchy == "0" or controllers == "name=systemd":
            units = [part for part in cgroup.split("/") if part.endswith(".service")]
            if units:
                return units[-1].removesuffix(".service")
    return ""


# Our pid for HORUS_PID, without a getpid(2) per record; a forked child (a node process
# started by fork) must not report its parent's, so it takes its own at the fork.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def caller(frame: FrameType | None) -> FrameType | None:
    """``frame`` or the first frame above it outside the logging plumbing: the one CODE_* names (None: not found)."""
    for _ in range(_MAX_FRAMES):
        if frame is None or frame.f_code.co_filename not in _PLUMBING:
            return frame
        frame = frame.f_back
    return None


class JournalSink:
    """Sends log records to journald. Thread-safe: compute nodes log from worker threads.

    ``sent`` counts records journald accepted into its queue, ``dropped`` those lost
    because the queue was full or journald was unreachable (``last_error`` says why).
    The record is built and sent by the native core (``_core.Journal``), in the same
    call that appends it to the log ring; only a record too large for a datagram
    takes the Python path (a sealed memfd).
    """

    def __init__(self, path: str = SOCKET_PATH, identifier: str | None = None) -> None:
        self.path = path
        self.identifier = (identifier or default_identifier()).encode(errors="backslashreplace")
        self.last_error = ""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)
        self._native = _core.Journal(self._sock.fileno(), os.fsencode(path), self.identifier)

    @property
    def sent(self) -> int:
        return self._native.sent

    @property
    def dropped(self) -> int:
        return self._native.dropped

    @classmethod
    def from_env(
        cls, path: str = SOCKET_PATH, env: Mapping[str, str] = os.environ, identifier: str | None = None
    ) -> JournalSink | None:
        """A sink if stderr is this unit's journal stream and journald's socket exists, else None."""
        if not stderr_is_journal_stream(env) or not os.path.exists(path):
            return None
        return cls(path, identifier)

    def encode(self, level: int, node: str, tick: int, message: str) -> bytes:
        """The datagram for one record, with CODE_* naming the caller (past the logging plumbing)."""
        return self._native.encode(level, node, tick, message, _pid, caller(sys._getframe(1)))

    def send(self, level: int, node: str, tick: int, message: str) -> bool:
        """Send one record; False if it was dropped. Never raises, never blocks."""
        return self.record(None, level, node, tick, message, sys._getframe(1))

    def record(self, ring: LogRing | None, level: int, node: str, tick: int, message: str, frame: FrameType) -> bool:
        """Append one record to ``ring`` (or None) and send it, in one native call; CODE_* names
        ``frame`` or the first one above it outside the logging plumbing. False if it was dropped.
        Never raises, never blocks."""
        # The caller usually passes the right frame: the walk only when it did not.
        found = caller(frame) if frame.f_code.co_filename in _PLUMBING else frame
        try:
            err = self._native.send(ring, level, node, tick, message, _pid, found)
            if err == 0:
                return True
            if err not in (errno.EMSGSIZE, errno.ENOBUFS):  # the native call counted it as dropped
                self.last_error = _describe(OSError(err, os.strerror(err)), self.path)
                return False
            # Too large for one datagram (EMSGSIZE), or no kernel buffer for one that
            # size (ENOBUFS): journald's documented fallback is a sealed memfd.
            self._send_memfd(self._native.encode(level, node, tick, message, _pid, found))
        except Exception as exc:  # a log call must never fail a tick
            self._native.count(False)
            self.last_error = _describe(exc, self.path)
            return False
        self._native.count(True)
        return True

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("horus-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            # journald maps a sealed memfd without copying; unsealed it would refuse it.
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _MEMFD_SEALS)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
            self._sock.sendmsg([], rights, 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._native.close()  # first: the descriptor's number may be reused once closed
        self._sock.close()


def _describe(exc: Exception, path: str) -> str:
    if isinstance(exc, BlockingIOError):
        return f"journald's queue at {path} is full (record dropped rather than block a tick)"
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return f"journald is not listening on {path}: is systemd-journald.socket running?"
    return f"{type(exc).__name__}: {exc}"


# The process's sink: decided on first use, since JOURNAL_STREAM and fd 2 do not change under a running node.
_sink: JournalSink | None = None
_decided = False


def install(sink: JournalSink | None) -> None:
    """Use ``sink`` for this process's records (None: stderr only), instead of detecting it."""
    global _sink, _decided
    _sink, _decided = sink, True


def active_sink() -> JournalSink | None:
    """The process's sink: a JournalSink when running under systemd's journal stream, else None."""
    if not _decided:
        install(JournalSink.from_env())
    return _sink


def send(level: int, node: str, tick: int, message: str) -> bool:
    """Hand a record to the journal; True if the journal sink is active (sent or counted as dropped)."""
    sink = active_sink()
    if sink is None:
        return False
    sink.send(level, node, tick, message)
    return True
