"""Upstream's methods of the time and diagnostics messages: clocks, heartbeats, status, reports, e-stop."""

from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    pass
from .common import MessageListMethods, assign, copy_of, stamped


class TimeReferenceMethods:
    __slots__ = ()
    offset_ns: int

    def correct_timestamp(self, local_ns: int) -> int:
        """A local clock reading in the reference's time: the local clock runs offset_ns ahead."""
        return local_ns - self.offset_ns


class DiagnosticValueMethods:
    """Typed constructors: the value is kept as text, its type in value_type. (Named as upstream's,
    so the builtins are spelled builtins.int and builtins.float inside this class.)"""

    __slots__ = ()

    @classmethod
    def int(cls, key: str, value: builtins.int) -> Any:
        return cast(Any, cls)(key=key, value=str(value), value_type=1)

    @classmethod
    def float(cls, key: str, value: builtins.float) -> Any:
        return cast(Any, cls)(key=key, value=repr(value), value_type=2)

    @classmethod
    def boolean(cls, key: str, value: bool) -> Any:
        return cast(Any, cls)(key=key, value="true" if value else "false", value_type=3)


class DiagnosticReportMethods(MessageListMethods):
    __slots__ = ()
    LIST = "values"
    value_count = property(MessageListMethods._count)

    def add_value(self, val: Any) -> None:  # upstream's name for its argument
        self._add(val)

    get_values = MessageListMethods._get

    def add_string(self, key: str, value: str) -> None:
        self._add_typed(None, key, value)

    def add_int(self, key: str, value: builtins.int) -> None:
        self._add_typed("int", key, value)

    def add_float(self, key: str, value: builtins.float) -> None:
        self._add_typed("float", key, value)

    def add_bool(self, key: str, value: bool) -> None:
        self._add_typed("boolean", key, value)

    def _add_typed(self, constructor: str | None, key: str, value: Any) -> None:
        """Add DiagnosticValue.<constructor>(key, value), a plain string value for None."""
        from ..messages import DiagnosticValue

        self.add_value(
            DiagnosticValue(key, value) if constructor is None else getattr(DiagnosticValue, constructor)(key, value)
        )


class ClockMethods:
    """Sources as upstream's: 0 wall clock, 1 simulation, 2 replay."""

    __slots__ = ()
    clock_ns: builtins.int
    paused: bool
    SOURCE_WALL: ClassVar[builtins.int] = 0
    SOURCE_SIM: ClassVar[builtins.int] = 1
    SOURCE_REPLAY: ClassVar[builtins.int] = 2

    @classmethod
    def wall_clock(cls) -> Any:
        """Real time now: the clock and the wall clock read the same."""
        now = time.time_ns()
        return stamped(cls, clock_ns=now, realtime_ns=now, sim_speed=1.0, source=cls.SOURCE_WALL)

    @classmethod
    def sim_time(cls, sim_ns: builtins.int, speed: builtins.float) -> Any:
        return cls._at(sim_ns, speed, cls.SOURCE_SIM)

    @classmethod
    def replay_time(cls, replay_ns: builtins.int, speed: builtins.float) -> Any:
        return cls._at(replay_ns, speed, cls.SOURCE_REPLAY)

    @classmethod
    def _at(cls, clock_ns: builtins.int, speed: builtins.float, source: builtins.int) -> Any:
        return stamped(cls, clock_ns=clock_ns, realtime_ns=time.time_ns(), sim_speed=speed, source=source)

    def elapsed_since(self, earlier: ClockMethods) -> builtins.int:
        """Clock nanoseconds since `earlier`; 0 if `earlier` is in fact later."""
        return max(0, self.clock_ns - earlier.clock_ns)

    def is_paused(self) -> bool:
        return self.paused


class HeartbeatMethods:
    __slots__ = ()
    sequence: builtins.int
    uptime: builtins.float
    timestamp_ns: builtins.int

    def update(self, uptime: builtins.float) -> None:
        """The next heartbeat: sequence + 1, the given uptime (s), stamped now."""
        from ...runtime.clock import timestamp_ns

        assign(self, sequence=self.sequence + 1, uptime=uptime, timestamp_ns=timestamp_ns())


class DiagnosticStatusMethods:
    """Levels as upstream's: 0 ok, 1 warn, 2 error, 3 fatal."""

    __slots__ = ()
    message: str
    component: str

    @classmethod
    def ok(cls, message: str) -> Any:
        return stamped(cls, level=0, code=0, message=message)

    @classmethod
    def warn(cls, code: builtins.int, message: str) -> Any:
        return stamped(cls, level=1, code=code, message=message)

    @classmethod
    def error(cls, code: builtins.int, message: str) -> Any:
        return stamped(cls, level=2, code=code, message=message)

    @classmethod
    def fatal(cls, code: builtins.int, message: str) -> Any:
        return stamped(cls, level=3, code=code, message=message)

    def with_component(self, component: str) -> Any:
        """A copy naming the component it is about."""
        status = copy_of(self)
        status.component = component
        return status

    def message_str(self) -> str:
        return self.message

    def component_str(self) -> str:
        return self.component


class EmergencyStopMethods:
    __slots__ = ()
    reason: str

    @classmethod
    def engage(cls, reason: str) -> Any:
        """Stop now, saying why."""
        return stamped(cls, engaged=True, reason=reason)

    @classmethod
    def release(cls) -> Any:
        return stamped(cls, engaged=False)

    def with_source(self, source: str) -> Any:
        """A copy naming what raised (or released) the stop."""
        stop = copy_of(self)
        stop.source = source
        return stop

    def reason_str(self) -> str:
        return self.reason


class ResourceUsageMethods:
    """Thresholds in the fields' units (percent, degrees C); strictly above counts as high."""

    __slots__ = ()
    cpu_percent: builtins.float
    memory_percent: builtins.float
    temperature: builtins.float

    def is_cpu_high(self, threshold: builtins.float) -> bool:
        return self.cpu_percent > threshold

    def is_memory_high(self, threshold: builtins.float) -> bool:
        return self.memory_percent > threshold

    def is_temperature_high(self, threshold: builtins.float) -> bool:
        return self.temperature > threshold
