"""Flight recorder and replay: what each node saw and sent, tick by tick, bounded on disk.

``Scheduler(recording=DIR)`` (or ``recording=True``: ``$HORUS_RECORDING_DIR``, else
``.horus/recordings/<scheduler name>``) writes one record per node tick: the node, its tick
number, the framework time the tick started, every answer its recv/recv_all/has_msg calls
got (None included, in call order), what it sent, and its error if it raised. Records go
to segment files of at most `segment_bytes`; once the directory holds more than
`max_bytes`, the oldest segment is deleted, so a robot can record all the time and keep
its last minutes.

``Scheduler.replay(DIR)`` runs the same nodes through those ticks in the recorded order,
at the recorded times (the tick number, and every framework clock reading and rng_float()
draw the tick made, are the recorded ones), each recv answered from the recording; nothing
is read from or published to live topics. It returns where the replayed sends differ from
the recorded ones: none, for code that is a function of its inputs, the framework clock and
rng_float() (not of time.monotonic() or random.random(), which no recording sees).

Format (native byte order is not involved; all little-endian): each segment starts with
MAGIC, then records of a u32 length and a horus.messaging.codec payload
``[node, tick, t_ns, [[topic, value], ...] received, [[topic, value], ...] sent, error]``,
where a has_msg answer is recorded under "?topic", a recv_all answer under "*topic", and the
tick's framework clock readings and rng_float() draws under "@now" (now(), timestamp_ns()),
"@elapsed", "@used" (budget_remaining()) and "@rng", in call order. A torn last record (power cut)
ends that segment's replay.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..messaging import codec

MAGIC = b"HORUSREC1\n"
SUFFIX = ".hrec"
_LEN = struct.Struct("<I")


def recordings_base() -> Path:
    """Where Scheduler(recording=True) records: one directory per scheduler name."""
    base = os.environ.get("HORUS_RECORDING_DIR")
    return Path(base) if base else Path(".horus") / "recordings"


def default_directory(scheduler: str) -> Path:
    return recordings_base() / scheduler


@dataclass
class TickTap:
    """What one node's current tick received and sent (filled by Node.recv/send while recording)."""

    received: list[list[Any]] = field(default_factory=list)
    sent: list[list[Any]] = field(default_factory=list)

    def reading(self, kind: str, read: Callable[[], Any]) -> Any:
        """A clock reading or random draw of the tick (horus.runtime.clock.Reads), kept with its inputs."""
        value = read()
        self.received.append([kind, value])
        return value


class Recorder:
    """Appends tick records to rotating segment files; the scheduler flushes it once per pass."""

    def __init__(self, directory: Path, max_bytes: int = 256 << 20, segment_bytes: int = 8 << 20) -> None:
        if segment_bytes < 1024 or max_bytes < segment_bytes:
            raise ValueError(f"recording needs max_bytes >= segment_bytes >= 1 KiB (got {max_bytes}, {segment_bytes})")
        self.directory = directory
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        existing = _segments(directory)
        self._next = int(existing[-1].stem) + 1 if existing else 0
        self._file: BinaryIO | None = None
        self._written = 0
        self._lock = threading.Lock()

    def record(self, node: str, tick: int, t_ns: int, tap: TickTap, error: str | None) -> None:
        payload = codec.encode_bytes([node, tick, t_ns, tap.received, tap.sent, error])
        with self._lock:
            if self._file is None or self._written >= self.segment_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(_LEN.pack(len(payload)) + payload)
            self._written += _LEN.size + len(payload)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        path = self.directory / f"{self._next:010d}{SUFFIX}"
        self._next += 1
        self._file = open(path, "xb")  # noqa: SIM115  (kept open across records; closed by _rotate/close)
        self._file.write(MAGIC)
        self._written = len(MAGIC)
        segments = _segments(self.directory)
        total = sum(p.stat().st_size for p in segments)
        for old in segments[:-1]:  # never the one just opened
            if total <= self.max_bytes:
                break
            total -= old.stat().st_size
            old.unlink()


@dataclass
class TickRecord:
    node: str
    tick: int
    t_ns: int
    received: list[list[Any]]
    sent: list[list[Any]]
    error: str | None


def load(directory: str | os.PathLike[str]) -> list[TickRecord]:
    """Every record of a recording, oldest first."""
    path = Path(directory)
    segments = _segments(path)
    if not segments:
        raise FileNotFoundError(f"no recording in {path} (no *{SUFFIX} segments)")
    records = []
    for segment in segments:
        data = segment.read_bytes()
        if not data.startswith(MAGIC):
            raise ValueError(f"{segment} is not a HORUS recording (or of another format version)")
        pos = len(MAGIC)
        while pos + _LEN.size <= len(data):
            (size,) = _LEN.unpack_from(data, pos)
            if pos + _LEN.size + size > len(data):
                break  # torn by a power cut mid-write: the rest of this segment is lost
            node, tick, t_ns, received, sent, error = codec.decode(data[pos + _LEN.size : pos + _LEN.size + size])
            records.append(TickRecord(node, tick, t_ns, received, sent, error))
            pos += _LEN.size + size
    return records


class Feed:
    """Answers one replayed tick's recv/has_msg calls from its record, per topic in call order."""

    def __init__(self, record: TickRecord) -> None:
        self._answers: dict[str, deque[Any]] = defaultdict(deque)
        for topic, value in record.received:
            self._answers[topic].append(value)

    @classmethod
    def empty(cls) -> Feed:
        return cls(TickRecord("", 0, 0, [], [], None))

    def next(self, topic: str, default: Any = None) -> Any:
        """The next recorded answer for `topic` (`default` when the replayed code asks more than the recorded did)."""
        answers = self._answers.get(topic)
        return answers.popleft() if answers else default

    def reading(self, kind: str, read: Callable[[], Any]) -> Any:
        """The tick's recorded clock reading or random draw (horus.runtime.clock.Reads); a live one past the
        recorded ones, or in a recording made before they were kept."""
        answers = self._answers.get(kind)
        return answers.popleft() if answers else read()


@dataclass
class Divergence:
    """A replayed tick whose sends differ from the recorded ones."""

    node: str
    tick: int
    recorded: list[list[Any]]
    replayed: list[list[Any]]


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def list_recordings() -> list[str]:
    """The names of the recordings under recordings_base(): their schedulers' names."""
    base = recordings_base()
    return sorted(p.name for p in base.iterdir() if _segments(p)) if base.is_dir() else []


def delete_recording(name: str) -> bool:
    """Delete the recording `name` (one of list_recordings()); False when there is none."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"delete_recording({name!r}): give a recording's name, as list_recordings() shows it")
    directory = recordings_base() / name
    segments = _segments(directory)
    for segment in segments:
        segment.unlink()
    if segments and not any(directory.iterdir()):
        directory.rmdir()
    return bool(segments)
