"""The black box: a bounded file of a scheduler's notable events that outlives a crash, as
upstream HORUS's ``Scheduler(blackbox_mb=N)``; ``horus blackbox`` reads it.

The scheduler appends one JSON line per event to DIR/<scheduler name>.wal, where DIR is
$HORUS_BLACKBOX_DIR or .horus/blackbox (upstream's place): its start and stop, and the
anomalies: node errors, deadline misses, budget violations and emergency stops (a fatal
failure, a critical node's overrun). Each line reaches the kernel as it is written, so a
process killed by SIGKILL or a segfault leaves every event before its end. Past half of N MB
the file becomes <name>.wal.1 (dropping the one before), so a box holds at most N MB, the
newest events. Ticks that went well are counted by the stats registry (horus monitor), not
written here: at 1 kHz they would crowd out everything else.

A line: {"timestamp_us": wall clock, "tick": scheduler pass, "scheduler": name,
"event": {"type": "DeadlineMiss", "name": node, ...}}. Give schedulers that share a
directory distinct names: each name is one file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

ANOMALIES = frozenset({"NodeError", "DeadlineMiss", "BudgetViolation", "EmergencyStop"})


def directory() -> Path:
    base = os.environ.get("HORUS_BLACKBOX_DIR")
    return Path(base) if base else Path(".horus") / "blackbox"


class BlackBox:
    """One scheduler's box; record() may be called from any of its threads."""

    def __init__(self, scheduler: str, size_mb: int, where: Path | None = None) -> None:
        if size_mb < 1:
            raise ValueError(f"blackbox_mb={size_mb!r}: the black box needs at least 1 MB (0 turns it off)")
        self.scheduler = scheduler
        self.path = (where or directory()) / f"{scheduler}.wal"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._half = size_mb * (1 << 20) // 2
        self._lock = threading.Lock()
        self._file = self._open()

    def _open(self) -> TextIO:
        # Line-buffered: every event is in the kernel once record() returns. Owner-only: errors can carry secrets.
        return open(self.path, "a", buffering=1, encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600))

    def record(self, tick: int, kind: str, **fields: Any) -> None:
        event = {"type": kind, **fields}
        line = json.dumps({"timestamp_us": time.time_ns() // 1000, "tick": tick, "scheduler": self.scheduler,
                           "event": event})  # fmt: skip
        with self._lock:
            if self._file.tell() >= self._half:
                self._file.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._file = self._open()
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(where: Path) -> list[dict[str, Any]]:
    """Every event of every box in `where`, oldest first. A line torn by a crash, or anything
    that is not an event, is skipped: the files are read as untrusted."""
    records = []
    for path in sorted(where.glob("*.wal*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if _is_record(record):
                records.append(record)
    return sorted(records, key=lambda r: r["timestamp_us"])


def _is_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("timestamp_us"), int)
        and isinstance(record.get("event"), dict)
        and isinstance(record["event"].get("type"), str)
    )


def is_anomaly(record: dict[str, Any]) -> bool:
    return record["event"]["type"] in ANOMALIES
