"""A scheduler's flight recording while it runs (``Scheduler(recording=...)``).

Armed with a directory when the scheduler is made, open from its start to its stop: before each
tick the node gets a TickTap that Node.recv/send fill, after it the tap becomes one record, and the
loop flushes once per pass, so a crash loses at most the pass it was in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .recorder import Recorder, TickTap, default_directory

if TYPE_CHECKING:
    from ..runtime.node import Node


class Tape:
    """The recording of the scheduler named `scheduler`: to `recording`'s directory, or its default one."""

    def __init__(self, scheduler: str, recording: bool | str | os.PathLike[str]) -> None:
        self.directory: Path | None = None
        if recording:
            self.directory = default_directory(scheduler) if recording is True else Path(recording)
        # Read on every tick: None whenever nothing records, so the check is one attribute.
        self.recorder: Recorder | None = None

    def open(self) -> None:
        if self.directory is not None:
            self.recorder = Recorder(self.directory)

    def watch(self, node: Node) -> None:
        """Before `node`'s tick (recording): what it receives and sends from now on is kept."""
        node._tap = TickTap()

    def keep(self, node: Node, t_ns: int, error: str | None) -> None:
        """After `node`'s tick (recording), started `t_ns` into the run: its tap becomes a record."""
        assert self.recorder is not None
        if node._tap is not None:
            self.recorder.record(node.name, node.tick_count, t_ns, node._tap, error)
            node._tap = None

    def flush(self) -> None:
        if self.recorder is not None:
            self.recorder.flush()

    def close(self) -> list[str]:
        """Stop recording (for good: a later start does not record again); the recording's segment files."""
        if self.recorder is None:
            return []
        self.recorder.close()
        directory, self.recorder, self.directory = self.recorder.directory, None, None
        return [str(p) for p in sorted(directory.glob("*.hrec"))]
