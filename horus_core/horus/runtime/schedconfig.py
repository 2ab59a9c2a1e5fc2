"""horus.SchedulerConfig and horus.Priority: upstream HORUS's scheduler settings as one value.

``Scheduler(config=SchedulerConfig.with_watchdog().rate(500))`` is the same as the
keyword arguments it stands for (tick_rate, watchdog_ms, max_deadline_misses, rt, cores).
"""

from __future__ import annotations

import copy
from typing import ClassVar


class SchedulerConfig:
    """Scheduler settings; the builder methods return a changed copy, the attributes are settable."""

    def __init__(self) -> None:
        self.tick_rate = 100.0
        self.watchdog_timeout_ms = 0
        self.max_deadline_misses = 100
        self.memory_locking = False
        self.rt_scheduling_class = False
        self.cpu_cores: list[int] | None = None
        self.black_box_size_mb = 0
        self.telemetry_endpoint: str | None = None
        self.recording_enabled = False
        self._preset = "Minimal"

    @staticmethod
    def minimal() -> SchedulerConfig:
        """100 Hz, no watchdog, no real-time features."""
        return SchedulerConfig()

    @staticmethod
    def with_watchdog() -> SchedulerConfig:
        """Minimal plus a 500 ms watchdog: what a robot in production runs."""
        cfg = SchedulerConfig()
        cfg.watchdog_timeout_ms = 500
        cfg._preset = "Watchdog"
        return cfg

    def _with(self, **changes: object) -> SchedulerConfig:
        cfg = copy.copy(self)
        for key, value in changes.items():
            setattr(cfg, key, value)
        return cfg

    def rate(self, hz: float) -> SchedulerConfig:
        if not hz > 0:
            raise ValueError(f"SchedulerConfig.rate needs positive Hz (got {hz!r})")
        return self._with(tick_rate=float(hz))

    def watchdog_ms(self, ms: int) -> SchedulerConfig:
        return self._with(watchdog_timeout_ms=int(ms))

    def no_watchdog(self) -> SchedulerConfig:
        return self._with(watchdog_timeout_ms=0)

    def blackbox_mb(self, mb: int) -> SchedulerConfig:
        return self._with(black_box_size_mb=int(mb))

    def cpu_affinity(self, cores: list[int]) -> SchedulerConfig:
        return self._with(cpu_cores=list(cores))

    def telemetry(self, endpoint: str) -> SchedulerConfig:
        return self._with(telemetry_endpoint=endpoint)

    def __repr__(self) -> str:
        return (
            f"SchedulerConfig({self._preset}: tick_rate={self.tick_rate:g}, "
            f"watchdog_timeout_ms={self.watchdog_timeout_ms}, max_deadline_misses={self.max_deadline_misses}, "
            f"memory_locking={self.memory_locking}, rt_scheduling_class={self.rt_scheduling_class}, "
            f"cpu_cores={self.cpu_cores})"
        )

    __str__ = __repr__


class Priority:
    """Named node priorities as upstream HORUS spells them (lower number, more urgent)."""

    CRITICAL = 0
    HIGH = 10
    NORMAL = 50
    LOW = 80
    BACKGROUND = 100

    _NAMES: ClassVar[dict[str, int]] = {
        "critical": CRITICAL, "high": HIGH, "normal": NORMAL, "low": LOW, "background": BACKGROUND,
    }  # fmt: skip

    @staticmethod
    def from_string(priority: str) -> int:
        """A name (critical, high, normal, low, background) or a number, as an int."""
        value = Priority._NAMES.get(priority.lower())
        if value is not None:
            return value
        if priority.isdigit():
            return int(priority)
        raise ValueError(f"unknown priority {priority!r}: use one of {', '.join(Priority._NAMES)} or a number")

    @staticmethod
    def to_string(priority: int) -> str:
        names = {v: k for k, v in Priority._NAMES.items()}
        return names.get(priority, f"custom({priority})")
