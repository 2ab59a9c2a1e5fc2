"""Where the pipeline keeps what it can rebuild or re-download (rootfs, wheels, zig objects).

One directory, `$HORUS_CACHE` or `~/.cache/horus-pipeline`, so CI can cache it whole;
entries are keyed by their inputs, so a stale entry is never picked up.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("HORUS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "horus-pipeline"
    )
    return Path(root)


def cache_dir(kind: str) -> Path:
    """The cache directory for one kind of entry (`rootfs`, `wheels`, ...), created on demand."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def input_key(inputs: object) -> str:
    """A short stable key for JSON-able inputs: the same inputs give the same key on any machine."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
