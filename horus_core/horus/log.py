"""Node log records: one line per record on stderr, `[LEVEL] node: message`."""

from __future__ import annotations

import sys

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}


def emit(level: int, node: str, tick: int, message: str) -> None:
    """Write one record. Never raises: a full or closed stderr must not fail a tick."""
    try:
        sys.stderr.write(f"[{LEVEL_NAMES[level]}] {node}: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
