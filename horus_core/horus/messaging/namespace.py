"""Where a robot's shared memory lives: one private directory per HORUS_NAMESPACE under /dev/shm.

    /dev/shm/horus.<namespace>/          mode 0700, owned by the service user
        topics/<topic>                   one topic ring per topic (dir 0700, files 0600)

Topic names may contain any character; those outside [A-Za-z0-9_.-] are
%-escaped in file names so that "robot/cmd_vel" cannot escape the directory.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

SHM_ROOT = Path("/dev/shm")
DIR_PREFIX = "horus."

_NS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def current() -> str:
    """The namespace of this process: $HORUS_NAMESPACE, or "default"."""
    return _checked(os.environ.get("HORUS_NAMESPACE") or "default")


@functools.lru_cache(maxsize=16)
def _checked(ns: str) -> str:
    # Cached: log calls ask for the namespace on every record.
    if not _NS_RE.match(ns):
        raise ValueError(f"HORUS_NAMESPACE={ns!r} is not a valid namespace: use 1-64 letters, digits, '_', '.', '-'")
    return ns


def directory(ns: str | None = None) -> Path:
    return SHM_ROOT / f"{DIR_PREFIX}{ns or current()}"


def topic_file(topic: str) -> str:
    if not topic:
        raise ValueError("topic name must not be empty")
    escaped = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in topic)
    if len(escaped) > 190:
        raise ValueError(f"topic name {topic!r} is too long (max about 190 characters)")
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    return escaped


def topics_dir(ns: str | None = None) -> Path:
    return directory(ns) / "topics"
