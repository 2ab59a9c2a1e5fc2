"""Where a node runs: the CPUs (cores=, core=) and the SCHED_FIFO priority (priority=) of a thread.

Each call acts on the calling thread only (Linux applies sched_setaffinity and
sched_setscheduler with pid 0 to the caller), and threads started afterwards inherit it.
A refusal is logged with what to grant, and the node runs without it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import log

if TYPE_CHECKING:
    from .node import Node


def pin_cores(cores: list[int], who: str) -> None:
    """The scheduler's cores=: this thread, and the worker threads it starts later, on those CPUs only."""
    try:
        os.sched_setaffinity(0, cores)
    except (OSError, ValueError) as exc:
        log.emit(log.WARNING, who, 0, f"cores={cores} refused ({exc}); running unpinned")


def pin_thread(node: Node) -> None:
    """Start of a node's own thread: its CPU (core=) and SCHED_FIFO priority (priority=), as far as allowed."""
    if node.core is not None:
        try:
            os.sched_setaffinity(0, {node.core})
        except (OSError, ValueError) as exc:
            log.emit(log.WARNING, node.name, 0, f"core={node.core} refused ({exc}); running unpinned")
    if node.priority:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(node.priority))
        except OSError as exc:
            log.emit(
                log.WARNING, node.name, 0,
                f"SCHED_FIFO priority {node.priority} refused ({exc.strerror}): grant CAP_SYS_NICE "
                "(systemd: AmbientCapabilities=CAP_SYS_NICE); running without it",
            )  # fmt: skip
