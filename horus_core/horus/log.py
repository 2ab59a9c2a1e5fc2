"""Node log records: one line per record on stderr, `[LEVEL] node: message`; under systemd, to journald."""

from __future__ import annotations

import sys

from . import journal, logring

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}


def emit(level: int, node: str, tick: int, message: str, ns: str | None = None) -> None:
    """Write one record. Never raises: a full or closed stderr must not fail a tick.

    `ns` is the namespace when the caller knows it (nodes do): it saves a lookup in os.environ.
    """
    logring.append(level, node, tick, message, ns)
    # Under systemd stderr is itself a journal stream: writing the record there too would
    # put it in the journal twice (once without its fields), so stderr only without the sink.
    if not journal.send(level, node, tick, message):
        _to_stderr(level, node, message)


def _to_stderr(level: int, node: str, message: str) -> None:
    try:
        sys.stderr.write(f"[{LEVEL_NAMES.get(level, level)}] {node}: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
