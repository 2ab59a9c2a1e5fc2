"""Upstream's methods of the input messages."""

from __future__ import annotations

import builtins
from typing import ClassVar

from .common import RenamedFieldMethods


class KeyboardInputMethods(RenamedFieldMethods):
    """modifiers' bits as this message documents them: ctrl, alt, shift, super, hyper, meta."""

    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {"modifier_flags": "modifiers"}
    modifiers: builtins.int
    timestamp_ns: builtins.int
    CTRL: ClassVar[builtins.int] = 1 << 0
    ALT: ClassVar[builtins.int] = 1 << 1
    SHIFT: ClassVar[builtins.int] = 1 << 2

    @property
    def timestamp_ms(self) -> builtins.int:
        return self.timestamp_ns // 1_000_000

    def is_ctrl(self) -> bool:
        return bool(self.modifiers & self.CTRL)

    def is_alt(self) -> bool:
        return bool(self.modifiers & self.ALT)

    def is_shift(self) -> bool:
        return bool(self.modifiers & self.SHIFT)


class JoystickInputMethods:
    __slots__ = ()
    timestamp_ns: builtins.int

    @property
    def timestamp_ms(self) -> builtins.int:
        return self.timestamp_ns // 1_000_000
