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
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

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
    """The syslog priority digit for a horus.log level (unknown levels map to the one below)."""
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


def _code_fields() -> list[bytes]:
    """CODE_FILE/LINE/FUNC of the first frame outside the logging plumbing (a few frame hops)."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return []
        code = frame.f_code
        if code.co_filename not in _PLUMBING:
            return [
                encode_field(b"CODE_FILE", code.co_filename.encode(errors="backslashreplace")),
                encode_field(b"CODE_LINE", str(frame.f_lineno).encode()),
                encode_field(b"CODE_FUNC", code.co_name.encode(errors="backslashreplace")),
            ]
        frame = frame.f_back
    return []


class JournalSink:
    """Sends log records to journald. Thread-safe: compute nodes log from worker threads.

    ``sent`` counts records journald accepted into its queue, ``dropped`` those lost
    because the queue was full or journald was unreachable (``last_error`` says why).
    """

    def __init__(self, path: str = SOCKET_PATH, identifier: str | None = None) -> None:
        self.path = path
        self.identifier = (identifier or default_identifier()).encode(errors="backslashreplace")
        self.sent = 0
        self.dropped = 0
        self.last_error = ""
        self._lock = threading.Lock()  # only for the counters: sends themselves need no lock
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)

    @classmethod
    def from_env(
        cls, path: str = SOCKET_PATH, env: Mapping[str, str] = os.environ, identifier: str | None = None
    ) -> JournalSink | None:
        """A sink if stderr is this unit's journal stream and journald's socket exists, else None."""
        if not stderr_is_journal_stream(env) or not os.path.exists(path):
            return None
        return cls(path, identifier)

    def encode(self, level: int, node: str, tick: int, message: str) -> bytes:
        """The datagram for one record."""
        return b"".join(
            [
                encode_field(b"MESSAGE", message.encode(errors="backslashreplace")),
                encode_field(b"PRIORITY", syslog_priority(level)),
                encode_field(b"SYSLOG_IDENTIFIER", self.identifier),
                encode_field(b"HORUS_NODE", node.encode(errors="backslashreplace")),
                encode_field(b"HORUS_TICK", str(tick).encode()),
                encode_field(b"HORUS_PID", str(os.getpid()).encode()),
                *_code_fields(),
            ]
        )

    def send(self, level: int, node: str, tick: int, message: str) -> bool:
        """Send one record; False if it was dropped. Never raises, never blocks."""
        try:
            data = self.encode(level, node, tick, message)
            try:
                self._sock.sendto(data, self.path)
            except OSError as exc:
                # Too large for one datagram (EMSGSIZE), or no kernel buffer for one that
                # size (ENOBUFS): journald's documented fallback is a sealed memfd.
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                    raise
                self._send_memfd(data)
        except Exception as exc:  # a log call must never fail a tick
            with self._lock:
                self.dropped += 1
                self.last_error = _describe(exc, self.path)
            return False
        with self._lock:
            self.sent += 1
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
