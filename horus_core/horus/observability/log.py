"""Node log records: one line per record on stderr, `[LEVEL] node: message`; under systemd, to journald."""

from __future__ import annotations

import codecs
import contextlib
import io
import sys
from typing import TextIO

from .. import _core
from . import journal, logring
from .logring import _rings

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}


def _direct_stderr() -> tuple[TextIO | None, bool]:
    """(stream, flush first): the process's own stderr when the core may write lines to fd 2 itself.

    That takes one native call per line instead of Python's text layers, and is the
    same bytes: sys.__stderr__ writes UTF-8 with errors="backslashreplace" to fd 2.
    Under ``python -u`` (as units run nodes) it buffers nothing, so lines stay in
    order with print(file=sys.stderr) as they are; otherwise a pending partial line
    is flushed before each record. Any other stream (pytest's capture,
    contextlib.redirect_stderr) is not sys.__stderr__ and keeps the Python path.
    """
    stream = sys.__stderr__
    try:
        if stream is None or stream.fileno() != 2 or codecs.lookup(stream.encoding).name != "utf-8":
            return None, False
        unbuffered = stream.write_through and isinstance(getattr(stream, "buffer", None), io.FileIO)
    except (AttributeError, LookupError, OSError, ValueError):
        return None, False
    return stream, not unbuffered


_STDERR, _FLUSH_FIRST = _direct_stderr()


def emit(level: int, node: str, tick: int, message: str, ns: str | None = None, depth: int = 1) -> None:
    """Write one record. Never raises: a full or closed stderr must not fail a tick.

    `ns` is the namespace when the caller knows it (nodes do): it saves a lookup in os.environ.
    `depth` is where the journal's CODE_* fields start looking for the code to name: 1, our
    caller; node.log_*() pass 2, their caller. Frames of the logging plumbing are skipped.
    """
    # A node logs every tick at most: the lookups below are inlined, each call would cost more.
    ring = _rings[ns] if ns in _rings else logring.ring(ns)
    sink = journal._sink if journal._decided else journal.active_sink()
    # Under systemd stderr is itself a journal stream: writing the record there too would
    # put it in the journal twice (once without its fields), so stderr only without the sink.
    if sink is not None:
        sink.record(ring, level, node, tick, message, sys._getframe(depth))
    elif sys.stderr is _STDERR and _STDERR is not None:
        if _FLUSH_FIRST:  # a partial line print()ed to stderr goes before this one
            with contextlib.suppress(OSError, ValueError):
                _STDERR.flush()
        _core.log_line(ring, level, node, tick, message)
    else:
        if ring is not None:
            ring.append(level, node, tick, message)
        _to_stderr(level, node, message)


def _to_stderr(level: int, node: str, message: str) -> None:
    try:
        sys.stderr.write(f"[{LEVEL_NAMES.get(level, level)}] {node}: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
