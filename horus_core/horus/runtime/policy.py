"""Failure and deadline-miss policies: what the scheduler does when a node's tick (or init)
raises, and when a tick ends past its deadline.

Failure policies (``failure_policy=``):

fatal    stop the scheduler, run every shutdown hook, and make run() raise
         NodeFailedError, so the process exits non-zero and systemd restarts it.
restart  run init again after a backoff (0.1 s, doubling, at most 5 s); after
         `max_restarts` failed attempts in a row, escalate to fatal.
skip     after `max_failures` consecutive failing ticks, suspend the node for
         `cooldown` seconds, then try it again; the other nodes keep running.
ignore   count the error, log it, and tick again next period.

A node without a policy behaves as ``ignore``: upstream HORUS's default, so its nodes run
here unchanged. On a robot nobody watches, say which one each node needs (`fatal` for
motor control and safety): a node that fails silently is worse than a process that
restarts cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("fatal", "restart", "skip", "ignore")
DEFAULT_KIND = "ignore"


@dataclass(frozen=True)
class FailurePolicy:
    kind: str = "fatal"
    max_restarts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    max_failures: int = 3
    cooldown: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"failure_policy kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @classmethod
    def parse(cls, value: str | FailurePolicy | None) -> FailurePolicy:
        if value is None:
            return cls(kind=DEFAULT_KIND)
        if isinstance(value, FailurePolicy):
            return value
        if value not in KINDS:
            raise ValueError(f"failure_policy={value!r} is not one of {', '.join(KINDS)}")
        return cls(kind=value)

    def backoff(self, attempt: int) -> float:
        """Delay before restart attempt `attempt` (1-based)."""
        return min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff)


class Miss:
    """What a deadline miss does (``on_miss=``), as upstream HORUS's horus.Miss."""

    WARN = "warn"  # log a warning and go on
    SKIP = "skip"  # skip the node's next tick, so it catches up
    SAFE_MODE = "safe_mode"  # call the node's enter_safe_state() (stop the motors)
    STOP = "stop"  # stop the scheduler: the last resort

    KINDS = (WARN, SKIP, SAFE_MODE, STOP)

    @classmethod
    def parse(cls, value: str | None) -> str | None:
        if value is None:
            return None
        kind = "safe_mode" if value == "safemode" else value
        if kind not in cls.KINDS:
            raise ValueError(f"on_miss={value!r} is not one of {', '.join(cls.KINDS)} (horus.Miss.WARN, ...)")
        return kind
