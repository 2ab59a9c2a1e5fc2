"""Typed messages over fixed binary layouts: the base of every class in horus.messaging.messages.

A message class (generated from horus_core/msgs/messages.toml) lists its fields and the
`struct` format of its C layout (csrc/horus_msgs.h). Attribute values are kept as the layout
stores them: an f32 field holds the nearest float32, an integer must fit its width, a str[N]
field at most N bytes of UTF-8, a T[N] field exactly N numbers (shorter lists are padded with
the field's default), a T[..N] or str[W][..N] field a list of at most N. A field whose type is
another message holds an instance of its class (a copy of the one given; M[N] and M[..N] a list
of them), so `stereo.left_camera.width = 640` changes the message it belongs to.
So a message equals itself after a trip through any topic, and a value
that would not survive the trip is refused when it is set, naming the field.

On a topic (horus.messaging.codec) a message travels as its TYPE_ID, its LAYOUT_HASH and its bytes; a
receiver refuses one whose type it does not know or whose layout differs from its own.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from types import MappingProxyType, MemberDescriptorType
from typing import Any, ClassVar, NamedTuple

from .. import _core

_INT_RANGES = {
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "i8": (-(2**7), 2**7 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1),
}
_F32 = struct.Struct("<f")
_REGISTRY: dict[int, type[Message]] = {}
_SEQUENCES = ("array", "list")  # fields that hold a Python list


class Field(NamedTuple):
    name: str
    kind: str  # the scalar type itself, "str", "array" or "list"
    scalar: str  # element type ("str" for a list of strings)
    items: int  # 1, or N of str[N] / T[N] / T[..N]
    default: Any
    width: int = 0  # bytes per string of a str[W][..N] list
    message: type[Message] | None = None  # the class of a nested message (kind "message", M[N], M[..N])


def _f32(value: Any) -> float:
    """The float32 nearest value, as a Python float: what an f32 field holds."""
    return _F32.unpack(_F32.pack(float(value)))[0]


# How a value set to a number field of these types becomes what the field holds.
_NUMBERS: dict[str, Callable[[Any], Any]] = {"bool": bool, "f64": float, "f32": _f32}


def _integer(scalar: str, value: Any, where: str) -> int:
    """value as an integer field of type `scalar` holds it; TypeError or ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise TypeError(f"{where}: an integer ({scalar}), got {value!r}")
        value = int(value)
    low, high = _INT_RANGES[scalar]
    if not low <= value <= high:
        raise ValueError(f"{where}: {value} does not fit {scalar} ({low}..{high})")
    return value


def _setter(cls: type[Message], field: Field) -> Callable[[Any], Any]:
    """What a value set to `field` of `cls` goes through (its checks and conversion), made once per
    class: a built-in conversion for floats and bools, the field's name bound in for the rest."""
    where = f"{cls.__name__}.{field.name}"
    if field.kind in _NUMBERS:
        return _NUMBERS[field.kind]
    if field.kind in _INT_RANGES:
        return lambda value: _integer(field.kind, value, where)
    if field.kind in _SEQUENCES and field.message is None and field.scalar != "str":
        return lambda value: _number_list(field, value, where)
    return lambda value: cls._coerce(field, value, where)


def _number_list(field: Field, value: Any, where: str) -> list[Any]:
    """A T[N] or T[..N] field of numbers: the values as the field holds them, a T[N] padded with defaults."""
    if value is None:
        items = []
    elif field.scalar == "f32":  # one pack and unpack for the whole list
        floats = [float(v) for v in value]
        items = list(struct.unpack(f"<{len(floats)}f", struct.pack(f"<{len(floats)}f", *floats)))
    elif field.scalar in _NUMBERS:
        items = [_NUMBERS[field.scalar](v) for v in value]
    else:
        items = [_integer(field.scalar, v, where) for v in value]
    if len(items) > field.items:
        raise ValueError(f"{where}: at most {field.items} values, got {len(items)}")
    return items if field.kind == "list" else items + [field.default] * (field.items - len(items))


_FORMAT_TOKEN = re.compile(r"(\d*)([a-zA-Z?])")


def _struct_values(fmt: str) -> list[tuple[str, int]]:
    """(struct code, offset) of each value a little-endian struct format packs, in order."""
    values: list[tuple[str, int]] = []
    at = 0
    for count, code in _FORMAT_TOKEN.findall(fmt.lstrip("<")):
        n, size = int(count or 1), struct.calcsize("<" + code)
        if code in "xs":  # pad bytes, or one bytes value of n bytes
            values += [("s", at)] if code == "s" else []
            at += n
            continue
        values += [(code, at + i * size) for i in range(n)]
        at += n * size
    return values


def _c_layout(cls: type[Message]) -> _core.MessageLayout | None:
    """Where each field of numbers or texts (T, T[N], str[N], T[..N], str[W][..N]) lies in the
    message's bytes: what lets the codec's C fast path (csrc/pycodec.c) build, fill and pack it
    without Python code. None for a class with a nested message, a bounded list of numbers whose
    unset items are not zero, or a field that is not a slot of the class (a subclass's property,
    say): codec.py then does it all."""
    values = iter(_struct_values(cls.FORMAT))
    fields = []
    for field in cls.FIELDS:
        slot = next((vars(k)[field.name] for k in cls.__mro__ if field.name in vars(k)), None)
        if type(slot) is not MemberDescriptorType or field.message is not None:
            return None
        len_at = next(values)[1] if field.kind == "list" else -1  # a bounded list's u16 length comes first
        code, offset = next(values)
        if field.kind == "list" and field.scalar != "str" and field.default:
            return None  # to_bytes writes the default in its unset items, the C path zeros
        for _ in range(field.items - 1 if code != "s" and field.kind in _SEQUENCES else 0):
            next(values)  # the rest of a list's numbers, side by side (a list of texts is one block)
        count = field.items if field.kind in _SEQUENCES else 0
        width = field.width if field.kind == "list" else field.items if field.kind == "str" else 0
        fields.append((slot, code, offset, count, width, len_at))
    return _core.MessageLayout(cls, cls.TYPE_ID, cls.LAYOUT_HASH, cls.SIZE, tuple(fields))


def message_type(type_id: int) -> type[Message] | None:
    """The message class with this TYPE_ID in this process, None if there is none."""
    return _REGISTRY.get(type_id)


class Message:
    """A message of a fixed layout; subclasses are generated (horus.messaging.messages)."""

    __slots__ = ()
    __topic_name__: ClassVar[str]
    FIELDS: ClassVar[tuple[Field, ...]]
    FORMAT: ClassVar[str]
    SIZE: ClassVar[int]
    TYPE_ID: ClassVar[int]
    LAYOUT_HASH: ClassVar[int]
    # Constructor keyword -> field, where upstream's keyword differs from the field's name.
    ALIASES: ClassVar[Mapping[str, str]] = MappingProxyType({})
    _STRUCT: ClassVar[struct.Struct]
    _BY_NAME: ClassVar[dict[str, Field]]
    _CHECKED: ClassVar[bool]  # has fields whose bytes can be invalid (str, bounded lists)
    _LAYOUT: ClassVar[_core.MessageLayout | None]  # the C codec's view of the class (_c_layout)
    # Per field, in FIELDS order: its name, what a value set to it goes through, its value when not given.
    _SETTERS: ClassVar[tuple[tuple[str, Callable[[Any], Any], Any], ...]]
    _SETTER: ClassVar[dict[str, Callable[[Any], Any]]]
    _OWN_SETATTR: ClassVar[bool]  # a mixin's __setattr__ (upstream's renamed fields) must see __init__'s sets

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._STRUCT = struct.Struct(cls.FORMAT)
        if cls._STRUCT.size != cls.SIZE:
            raise TypeError(f"{cls.__name__}: FORMAT packs {cls._STRUCT.size} bytes, SIZE says {cls.SIZE}")
        cls._BY_NAME = {f.name: f for f in cls.FIELDS}
        cls._CHECKED = any(f.kind in ("str", "list") or f.message is not None for f in cls.FIELDS)
        cls._LAYOUT = _c_layout(cls)
        # A missing array or message is all defaults (None), a missing scalar or string its default.
        cls._SETTERS = tuple(
            (f.name, _setter(cls, f), None if f.kind in _SEQUENCES or f.message is not None else f.default)
            for f in cls.FIELDS
        )
        cls._SETTER = {name: setter for name, setter, _ in cls._SETTERS}
        cls._OWN_SETATTR = cls.__setattr__ is not Message.__setattr__
        _REGISTRY[cls.TYPE_ID] = cls
        _core.register_message(cls.TYPE_ID, cls._LAYOUT)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if len(args) > len(cls.FIELDS):
            raise TypeError(f"{cls.__name__}() takes at most {len(cls.FIELDS)} positional arguments")
        if kwargs:
            kwargs = cls._keywords(args, kwargs)
        given = len(args)
        if cls._OWN_SETATTR:
            for at, (name, _, missing) in enumerate(cls._SETTERS):
                setattr(self, name, args[at] if at < given else kwargs.get(name, missing))
            return
        for at, (name, setter, missing) in enumerate(cls._SETTERS):
            object.__setattr__(self, name, setter(args[at] if at < given else kwargs.get(name, missing)))

    @classmethod
    def _keywords(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The constructor's keywords by field name (upstream's aliases renamed); TypeError for a field
        given twice or one the class does not have."""
        for field in cls.FIELDS[: len(args)]:
            if field.name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for {field.name!r}")
        for alias, name in cls.ALIASES.items():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{cls.__name__}() got {alias!r} and {name!r}, which are one field")
                kwargs[name] = kwargs.pop(alias)
        unknown = set(kwargs) - cls._BY_NAME.keys()
        if unknown:
            names = ", ".join(f.name for f in cls.FIELDS)
            raise TypeError(f"{cls.__name__}() has no field {sorted(unknown)[0]!r} (fields: {names})")
        return kwargs

    def __setattr__(self, name: str, value: Any) -> None:
        setter = self._SETTER.get(name)
        if setter is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, setter(value))

    @classmethod
    def _coerce(cls, field: Field, value: Any, where: str) -> Any:
        """A value for a str, nested message or list of them (numbers convert in _setter's functions)."""
        if field.kind in _SEQUENCES:
            items = [] if value is None else [cls._item(field, v, where) for v in value]
            if len(items) > field.items:
                raise ValueError(f"{where}: at most {field.items} values, got {len(items)}")
            if field.kind == "list":
                return items
            return items + [cls._filler(field) for _ in range(field.items - len(items))]
        if field.message is not None:
            return cls._nested(field.message, value, where)
        return cls._text(value, field.items, where)

    @classmethod
    def _item(cls, field: Field, value: Any, where: str) -> Any:
        if field.message is not None:
            return cls._nested(field.message, value, where)
        return cls._text(value, field.width, where)

    @staticmethod
    def _filler(field: Field) -> Any:
        """What pads a T[N] array: the default number, or a new default message."""
        return field.default if field.message is None else field.message()

    @staticmethod
    def _nested(cls: type[Message], value: Any, where: str) -> Message:
        if value is None:
            return cls()
        if type(value) is not cls:
            raise TypeError(f"{where}: a {cls.__name__}, got {type(value).__name__}")
        # A copy: the message owns its parts, as its bytes do.
        return cls.from_bytes(value.to_bytes())

    @staticmethod
    def _text(value: Any, limit: int, where: str) -> str:
        text = "" if value is None else str(value)
        if len(text.encode("utf-8")) > limit:
            raise ValueError(f"{where}: at most {limit} bytes of UTF-8, got {len(text.encode('utf-8'))}")
        return text

    def to_bytes(self) -> bytes:
        """The message in its C layout (horus_msgs.h), SIZE bytes."""
        values: list[Any] = []
        for field in self.FIELDS:
            value = getattr(self, field.name)
            if field.message is not None:
                items = value if field.kind in _SEQUENCES else [value]
                if field.kind == "list":
                    values.append(len(items))
                # Unset items of a list are zero bytes, as a C writer's memset leaves them.
                values.append(b"".join(v.to_bytes() for v in items).ljust(field.items * field.message.SIZE, b"\0"))
            elif field.kind == "array":
                values.extend(value)
            elif field.kind == "list":
                values.append(len(value))
                if field.scalar == "str":
                    values.append(b"".join(v.encode("utf-8").ljust(field.width, b"\0") for v in value))
                else:
                    values.extend(value + [field.default] * (field.items - len(value)))
            elif field.kind == "str":
                values.append(value.encode("utf-8"))
            else:
                values.append(value)
        return self._STRUCT.pack(*values)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Message:
        """A message from its C layout; ValueError for the wrong size, a str field that is not UTF-8,
        or a list whose length exceeds its N (what a C writer could put there)."""
        if len(data) != cls.SIZE:
            raise ValueError(f"{cls.__name__} is {cls.SIZE} bytes, got {len(data)}")
        msg = cls.__new__(cls)
        for field, value in zip(cls.FIELDS, cls._decode(cls._STRUCT.unpack(data)), strict=True):
            object.__setattr__(msg, field.name, value)
        return msg

    def fill_from(self, data: bytearray | bytes | memoryview, offset: int = 0) -> None:
        """Set every field from the C layout at data[offset:offset+SIZE], in place: what
        Topic.recv_into does per message. A message of numbers only (CmdVel, Imu, LaserScan, ...)
        keeps its lists and gets no new objects but the numbers; one with strings or bounded
        lists is decoded whole first, so a ValueError (as from_bytes) leaves it unchanged."""
        raw = self._STRUCT.unpack_from(data, offset)
        if self._CHECKED:
            for field, value in zip(self.FIELDS, self._decode(raw), strict=True):
                object.__setattr__(self, field.name, value)
            return
        at = 0
        for field in self.FIELDS:
            if field.kind == "array":
                getattr(self, field.name)[:] = raw[at : at + field.items]
                at += field.items
            else:
                object.__setattr__(self, field.name, raw[at])
                at += 1

    @classmethod
    def _decode(cls, raw: tuple[Any, ...]) -> list[Any]:
        """Each field's value from the unpacked layout, in FIELDS order."""
        values: list[Any] = []
        at = 0
        for field in cls.FIELDS:
            if field.message is not None:
                value: Any
                value, at = cls._messages(field, raw, at)
            elif field.kind == "array":
                value = list(raw[at : at + field.items])
                at += field.items
            elif field.kind == "list":
                value, at = cls._list(field, raw, at)
            else:
                value = raw[at]
                at += 1
                if field.kind == "str":
                    value = value.rstrip(b"\0").decode("utf-8")
            values.append(value)
        return values

    @classmethod
    def _list(cls, field: Field, raw: tuple[Any, ...], at: int) -> tuple[list[Any], int]:
        """The set items of a list field whose length is raw[at], and where the next field starts."""
        length = cls._length(field, raw[at])
        if field.scalar != "str":
            return list(raw[at + 1 : at + 1 + length]), at + 1 + field.items
        block, width = raw[at + 1], field.width
        texts = [block[i * width : (i + 1) * width].rstrip(b"\0").decode("utf-8") for i in range(length)]
        return texts, at + 2

    @classmethod
    def _length(cls, field: Field, length: int) -> int:
        """A list's length as its bytes say it; ValueError beyond its N (what a C writer could put there)."""
        if length > field.items:
            raise ValueError(f"{cls.__name__}.{field.name}: length {length} exceeds its {field.items} items")
        return length

    @classmethod
    def _messages(cls, field: Field, raw: tuple[Any, ...], at: int) -> tuple[Any, int]:
        """A nested message field's value (one message, or the set items of M[N] / M[..N]) from its
        block of bytes at raw[at] (after the length for a list), and where the next field starts."""
        assert field.message is not None
        length = field.items
        if field.kind == "list":
            length, at = cls._length(field, raw[at]), at + 1
        size, block = field.message.SIZE, raw[at]
        items = [field.message.from_bytes(block[i * size : (i + 1) * size]) for i in range(length)]
        return (items if field.kind in _SEQUENCES else items[0]), at + 1

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable: fields can be set

    def __repr__(self) -> str:
        parts = []
        for field in self.FIELDS:
            value = getattr(self, field.name)
            if field.kind in _SEQUENCES:
                shown = ", ".join(repr(v) for v in value[:4])
                value_text = f"[{shown}, ... ({len(value)} values)]" if len(value) > 4 else f"[{shown}]"
            else:
                value_text = repr(value)
            parts.append(f"{field.name}={value_text}")
        return f"{type(self).__name__}({', '.join(parts)})"
