"""Failure policies: what the scheduler does when a node's tick (or init) raises.

fatal    stop the scheduler, run every shutdown hook, and make run() raise
         NodeFailedError, so the process exits non-zero and systemd restarts it.
         The default: on a robot nobody watches, a node that fails silently is
         worse than a process that restarts cleanly.
restart  run init again after a backoff (0.1 s, doubling, at most 5 s); after
         `max_restarts` failed attempts in a row, escalate to fatal.
skip     after `max_failures` consecutive failing ticks, suspend the node for
         `cooldown` seconds, then try it again; the other nodes keep running.
ignore   count the error, log it, and tick again next period.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("fatal", "restart", "skip", "ignore")


@dataclass(frozen=True)
class FailurePolicy:
    kind: str = "fatal"
    max_restarts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    max_failures: int = 3
    cooldown: float = 1.0

    @classmethod
    def parse(cls, value: str | FailurePolicy | None) -> FailurePolicy:
        if value is None:
            return cls()
        if isinstance(value, FailurePolicy):
            return value
        if value not in KINDS:
            raise ValueError(f"failure_policy={value!r} is not one of {', '.join(KINDS)}")
        return cls(kind=value)

    def backoff(self, attempt: int) -> float:
        """Delay before restart attempt `attempt` (1-based)."""
        return min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff)
