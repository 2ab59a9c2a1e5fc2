"""Upstream's methods of the status messages: the safety system's state, node heartbeats, goal results."""

from __future__ import annotations

import builtins
import time
from typing import Any, ClassVar

from .common import assign, copy_of


class SafetyStatusMethods:
    """Modes as upstream's: 0 normal, 1 reduced, 2 safe stop."""

    __slots__ = ()
    enabled: bool
    estop_engaged: bool
    watchdog_ok: bool
    limits_ok: bool
    comms_ok: bool
    mode: builtins.int
    fault_code: builtins.int
    MODE_NORMAL: ClassVar[builtins.int] = 0
    MODE_REDUCED: ClassVar[builtins.int] = 1
    MODE_SAFE_STOP: ClassVar[builtins.int] = 2

    def is_safe(self) -> bool:
        """Enabled, no e-stop, watchdog, limits and comms fine, and no fault."""
        checks = (self.enabled, not self.estop_engaged, self.watchdog_ok, self.limits_ok, self.comms_ok)
        return all(checks) and self.fault_code == 0

    def set_fault(self, code: builtins.int) -> None:
        """Record a fault; any fault but 0 puts the system in safe stop."""
        assign(self, fault_code=code)
        if code != 0:
            assign(self, mode=self.MODE_SAFE_STOP)

    def clear_faults(self) -> None:
        assign(self, fault_code=0, mode=self.MODE_NORMAL)


class NodeHeartbeatMethods:
    """heartbeat_timestamp in whole seconds of the Unix epoch, as upstream's."""

    __slots__ = ()
    heartbeat_timestamp: builtins.int

    def update_timestamp(self) -> None:
        assign(self, heartbeat_timestamp=int(time.time()))

    def is_fresh(self, max_age_secs: builtins.int) -> bool:
        """Beaten within the last `max_age_secs` seconds."""
        return max(0, int(time.time()) - self.heartbeat_timestamp) <= max_age_secs


class GoalResultMethods:
    __slots__ = ()

    def with_error(self, message: str) -> Any:
        """A copy carrying this error message (cut to the field's 64 bytes, at a character)."""
        result = copy_of(self)
        raw = message.encode()[:64]
        result.error_message = raw.decode(errors="ignore")
        return result
