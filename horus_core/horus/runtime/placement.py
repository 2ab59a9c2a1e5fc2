"""Where a node runs: the CPUs (cores=, core=) and the SCHED_FIFO priority (priority=) of a thread.

Each call acts on the calling thread only (Linux applies sched_setaffinity and
sched_setscheduler with pid 0 to the caller), and threads started afterwards inherit it.
A refusal is logged with what to grant, and the node runs without it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _core
from ..observability import log

if TYPE_CHECKING:
    from .node import Node


@dataclass(frozen=True)
class ThreadPlacement:
    """A thread's scheduling policy, priority and CPUs, as they were before a scheduler changed them."""

    tid: int
    policy: int
    priority: int
    cpus: frozenset[int]

    @classmethod
    def of_this_thread(cls) -> ThreadPlacement:
        tid = threading.get_native_id()
        return cls(tid, os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority,
                   frozenset(os.sched_getaffinity(tid)))  # fmt: skip

    def restore(self) -> None:
        """Put the thread back as it was: run() returning leaves no SCHED_FIFO or pinning behind (a
        process that runs a real-time scheduler, then anything else, would otherwise starve its
        other work). Memory stays locked: mlockall is the process's, and unlocking buys nothing."""
        with contextlib.suppress(OSError):  # the thread is gone, or lowering is refused: nothing to undo
            os.sched_setscheduler(self.tid, self.policy, os.sched_param(self.priority))
        with contextlib.suppress(OSError, ValueError):
            os.sched_setaffinity(self.tid, self.cpus)


def pin_cores(cores: list[int], who: str) -> None:
    """The scheduler's cores=: this thread, and the worker threads it starts later, on those CPUs only."""
    try:
        os.sched_setaffinity(0, cores)
    except (OSError, ValueError) as exc:
        log.emit(log.WARNING, who, 0, f"cores={cores} refused ({exc}); running unpinned")


def enter_realtime(priority: int, who: str) -> dict[str, Any]:
    """rt=True: this thread on SCHED_FIFO at `priority` and every page of the process locked in
    memory, as far as the system allows. Returns what was obtained (sched_fifo, memory_locked) and
    the problems, each logged with what to grant; the scheduler runs without what was refused."""
    status: dict[str, Any] = {"sched_fifo": False, "memory_locked": False}
    problems = []
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        status["sched_fifo"] = True
    except OSError as exc:
        problems.append(
            f"SCHED_FIFO priority {priority} refused ({exc.strerror}): grant CAP_SYS_NICE "
            "(systemd: AmbientCapabilities=CAP_SYS_NICE) or LimitRTPRIO=99"
        )
    try:
        _core.lock_memory()
        status["memory_locked"] = True
    except OSError as exc:
        problems.append(
            f"mlockall refused ({exc.strerror}): grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK) "
            "or LimitMEMLOCK=infinity"
        )
    status["problems"] = problems
    for problem in problems:
        log.emit(log.WARNING, who, 0, f"rt=True: {problem}; running without it")
    return status


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


def capabilities() -> dict[str, object]:
    """What this machine offers real-time nodes, in upstream's keys: a PREEMPT_RT kernel, and
    whether this process may take SCHED_FIFO (CAP_SYS_NICE, or an RLIMIT_RTPRIO grant)."""
    try:
        with open("/sys/kernel/realtime", "rb") as f:
            preempt_rt = f.read().strip() == b"1"
    except OSError:
        preempt_rt = False
    rtprio = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    return {
        "preempt_rt": preempt_rt,
        "rt_priority_available": _has_cap_sys_nice() or rtprio == resource.RLIM_INFINITY or rtprio > 0,
        "max_rt_priority": os.sched_get_priority_max(os.SCHED_FIFO),
        "min_rt_priority": os.sched_get_priority_min(os.SCHED_FIFO),
    }


def _has_cap_sys_nice() -> bool:
    with open("/proc/self/status", "rb") as f:  # bytes: no codec to import (a dropped uid may not reach it)
        effective = next(line for line in f if line.startswith(b"CapEff:"))
    return bool(int(effective.split()[1], 16) >> _CAP_SYS_NICE & 1)


_CAP_SYS_NICE = 23  # linux/capability.h
