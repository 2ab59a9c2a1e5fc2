"""Resource monitor: each process publishes its RSS once a second (the seed's resource monitor)."""

from __future__ import annotations

import os
import resource

import horus

from .topics import memory_topic

WARN_MB = 500.0


def rss_mb() -> float:
    """Current resident set size in MB (from /proc; peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


def make_monitor(process: str) -> horus.Node:
    topic = memory_topic(process)

    def tick(node: horus.Node) -> None:
        rss = rss_mb()
        node.send(topic, {"process": process, "rss_mb": rss, "pid": os.getpid()})
        if rss > WARN_MB:
            node.log_warning(f"High memory: {rss:.0f} MB")

    # Diagnostics must never take a process down.
    return horus.Node(name=f"monitor.{process}", tick=tick, rate=1, pubs=[topic], failure_policy="ignore")
