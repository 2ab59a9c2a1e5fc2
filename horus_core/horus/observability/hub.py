"""What a running scheduler shows the outside: its nodes' records in the stats registry (`horus
monitor`, /health), its black box (`horus blackbox`), its telemetry export and, with verbose=True,
each node's settings in the log. Opened when the scheduler starts, closed when it stops; each part
that cannot open is logged and left out, never a reason for a robot not to start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import log, registry
from .blackbox import BlackBox
from .telemetry import Telemetry

if TYPE_CHECKING:
    from ..runtime.scheduler import _Slot


class Observability:
    """The registry, black box and telemetry of the scheduler named `name`."""

    def __init__(self, name: str, blackbox_mb: int, telemetry: str | None) -> None:
        self.name = name
        self.blackbox_mb = blackbox_mb
        self.telemetry = telemetry
        self._blackbox: BlackBox | None = None
        self._registry: registry.Publisher | None = None
        self._telemetry: Telemetry | None = None

    def open(self, tick: int, slots: list[_Slot], sample: Callable[[], tuple[int, dict[str, dict[str, Any]]]]) -> None:
        """Start showing `slots`; `sample()` is the telemetry's (tick, stats per node)."""
        self._open_registry(slots)
        if self.blackbox_mb:
            self._open_blackbox()
        self.event(tick, "SchedulerStart", node_count=len(slots))
        if self.telemetry:
            self._telemetry = Telemetry(self.telemetry, self.name, sample)

    def event(self, tick: int, kind: str, **fields: Any) -> None:
        """One of the black box's events (a start, a stop, an anomaly), when it is open."""
        if self._blackbox is not None:
            self._blackbox.record(tick, kind, **fields)

    def close_blackbox(self, reason: str, total_ticks: int) -> None:
        if self._blackbox is not None:
            self.event(total_ticks, "SchedulerStop", reason=reason, total_ticks=total_ticks)
            self._blackbox.close()
            self._blackbox = None

    def close(self) -> None:
        """Stop exporting and take the nodes' records out of the registry (the black box closes first)."""
        if self._telemetry is not None:
            self._telemetry.close()
            self._telemetry = None
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def describe(self, slots: Iterable[_Slot]) -> None:
        """Log each node's settings as the scheduler applies them (verbose=True)."""
        for slot in slots:
            node = slot.node
            log.emit(
                log.INFO, self.name, 0,
                f"node {node.name!r}: order {node.order}, {1e9 / slot.period_ns:g} Hz, policy {node.policy.kind}, "
                f"budget {slot.budget_ns / 1e3:g} us, deadline {slot.deadline_ns / 1e3:g} us, on_miss {node.on_miss}",
            )  # fmt: skip

    def _open_blackbox(self) -> None:
        try:
            self._blackbox = BlackBox(self.name, self.blackbox_mb)
        except OSError as exc:  # a read-only working directory must not keep a robot from starting
            log.emit(log.WARNING, self.name, 0, f"black box unavailable ({exc}); running without it: "
                     "set HORUS_BLACKBOX_DIR to a writable directory (systemd: StateDirectory=)")  # fmt: skip

    def _open_registry(self, slots: list[_Slot]) -> None:
        """From here on every change of a node's stats (each tick's among them) also rewrites its registry record."""
        try:
            self._registry = registry.Publisher(self.name, len(slots))
        except (OSError, ValueError) as exc:
            log.emit(log.WARNING, self.name, 0, f"stats registry unavailable, horus monitor will not see us: {exc}")
            return
        for slot in slots:
            self._registry.attach(slot.index, slot.stats)
