"""Typed messages laid out once for two languages: Python classes and C structs of the same bytes.

The one generator of HORUS's message layouts: horus_core/msgs/generate.py makes the standard set
with it (horus/messaging/messages.py, csrc/horus_msgs.h), horus.msggen a team's own messages. Standard
library only, and no import of the horus package: generate.py loads this file by its path,
before any horus_core is built.

The layout is C's natural alignment in field order (what `repr(C)` and every C compiler for
x86_64 and aarch64 give): each field at the next multiple of its alignment, the struct padded
to its largest alignment, little-endian. The Python side packs exactly those bytes with
`struct` (explicit pad bytes); the C header _Static_asserts every size and offset, so a
compiler that disagrees refuses the header instead of misreading a message.

Each message gets a type id (the first 4 bytes of sha256("horus.msg:" + name)) and a layout
hash (the first 8 bytes of sha256 of its canonical layout): both travel with every message,
and a receiver whose layout differs refuses it with an error naming the type.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# type -> (struct code, size = alignment, C type)
SCALARS = {
    "bool": ("?", 1, "bool"),
    "u8": ("B", 1, "uint8_t"),
    "i8": ("b", 1, "int8_t"),
    "u16": ("H", 2, "uint16_t"),
    "i16": ("h", 2, "int16_t"),
    "u32": ("I", 4, "uint32_t"),
    "i32": ("i", 4, "int32_t"),
    "u64": ("Q", 8, "uint64_t"),
    "i64": ("q", 8, "int64_t"),
    "f32": ("f", 4, "float"),
    "f64": ("d", 8, "double"),
}
# T, T[N] (fixed: always N), str[N], T[..N] and str[W][..N] (a list of at most N, its length kept).
# T is a scalar or a message defined before (CameraInfo, Waypoint[..256]): its struct, nested.
_TYPE = re.compile(r"^(\w+)(?:\[([1-9][0-9]*)\])?(?:\[\.\.([1-9][0-9]*)\])?$")
# A list's length travels in a u16 just before its items (C: `uint16_t NAME_len;`).
LEN_SUFFIX = "_len"


class SchemaError(ValueError):
    """messages.toml says something the generator cannot lay out; the message names the field."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a scalar type, "str", "message" (one nested message), "array" or "list"
    scalar: str  # the element type ("u8" for str, "str" for a list of strings, a message's name)
    count: int  # 1 for a scalar, N for str[N], T[N] and the lists' at most N
    default: object
    offset: int  # of the field; of its u16 length for a list
    width: int = 0  # bytes per string of a list of strings
    nested: Layout | None = None  # the element's layout when it is a message

    @property
    def item_size(self) -> int:
        if self.nested is not None:
            return self.nested.size
        return self.width if self.scalar == "str" else SCALARS[self.scalar][1]

    @property
    def item_align(self) -> int:
        if self.nested is not None:
            return self.nested.align
        return 1 if self.scalar == "str" else SCALARS[self.scalar][1]

    @property
    def align(self) -> int:
        return max(2, self.item_align) if self.kind == "list" else self.item_align

    @property
    def items_offset(self) -> int:
        """Where the items start: after the u16 length for a list, aligned as C aligns them."""
        if self.kind != "list":
            return self.offset
        return -(-(self.offset + 2) // self.item_align) * self.item_align

    @property
    def size(self) -> int:
        return self.items_offset - self.offset + self.item_size * self.count

    @property
    def type_text(self) -> str:
        # A nested message is named with its own layout hash: changing it changes this layout too.
        element = f"{self.scalar}#{self.nested.layout_hash:016x}" if self.nested is not None else self.scalar
        if self.kind == "list":
            element = f"str[{self.width}]" if self.scalar == "str" else element
            return f"{element}[..{self.count}]"
        if self.kind in ("str", "array"):
            return f"{'str' if self.kind == 'str' else element}[{self.count}]"
        return element

    @property
    def block(self) -> str:
        """The struct code of an element, or of all items of a list: strings and messages are bytes."""
        if self.scalar == "str" or self.nested is not None:
            return f"{self.count * self.item_size}s"
        return f"{self.count}{SCALARS[self.scalar][0]}"


@dataclass(frozen=True)
class Layout:
    name: str
    topic: str
    doc: str
    fields: tuple[Field, ...]
    size: int
    length: str  # the list field len() counts, "" when the message has no len()
    aliases: dict[str, str]  # constructor keyword -> field, where upstream's keyword differs
    methods: str = ""  # the mixin of horus/messaging/message_methods/ with upstream's methods, if any

    @property
    def snake(self) -> str:
        return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", self.name).lower()

    @property
    def align(self) -> int:
        return max(f.align for f in self.fields)

    def layout_text(self) -> str:
        return ";".join([self.name, *(f"{f.name}:{f.type_text}@{f.offset}" for f in self.fields), f"size={self.size}"])

    @property
    def type_id(self) -> int:
        return int.from_bytes(hashlib.sha256(f"horus.msg:{self.name}".encode()).digest()[:4], "little")

    @property
    def layout_hash(self) -> int:
        return int.from_bytes(hashlib.sha256(self.layout_text().encode()).digest()[:8], "little")

    def struct_format(self) -> str:
        parts, at = ["<"], 0
        for f in self.fields:
            if f.offset > at:
                parts.append(f"{f.offset - at}x")
            if f.kind == "list":
                parts.append("H")
                if f.items_offset > f.offset + 2:
                    parts.append(f"{f.items_offset - f.offset - 2}x")
                # A list of strings or messages is one block of count*size bytes, split by the reader.
                parts.append(f.block)
            elif f.kind in ("array", "message"):
                parts.append(f.block)
            else:
                parts.append(f"{f.count}s" if f.kind == "str" else SCALARS[f.scalar][0])
            at = f.offset + f.size
        if self.size > at:
            parts.append(f"{self.size - at}x")
        return "".join(parts)


def _field(message: str, raw: object, offset: int, known: dict[str, Layout]) -> Field:
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str) and isinstance(raw[1], str)):
        raise SchemaError(f"{message}: a field is [name, type, default], got {raw!r}")
    name, text, default = raw
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise SchemaError(f"{message}.{name}: field names are lower_case identifiers")
    parsed = _TYPE.match(text)
    element, fixed, bound = parsed.groups() if parsed else (text, None, None)
    width = 0
    if bound and element == "str" and fixed:
        kind, scalar, count, width = "list", "str", int(bound), int(fixed)
    elif bound and not fixed:
        kind, scalar, count = "list", element, int(bound)
    elif fixed and not bound:
        kind, scalar, count = ("str", "u8", int(fixed)) if element == "str" else ("array", element, int(fixed))
    else:
        kind, scalar, count = ("message", element, 1) if element in known and not bound else (text, text, 1)
    nested = known.get(scalar)
    if scalar not in SCALARS and nested is None and not (kind == "list" and scalar == "str"):
        raise SchemaError(
            f"{message}.{name}: unknown type {text!r} (one of {', '.join(SCALARS)}, str[N], T[N], T[..N], "
            "str[W][..N], or a message defined before it, alone or as M[N] or M[..N])"
        )
    field = Field(name, kind, scalar, count, default, 0, width, nested)
    # A list starts at its u16 length (aligned 2); C aligns the items after it on their own.
    start = 2 if kind == "list" else field.align
    return Field(name, kind, scalar, count, default, -(-offset // start) * start, width, nested)


def lay_out(name: str, spec: dict[str, Any], known: dict[str, Layout] | None = None) -> Layout:
    """One message laid out from its definition (`fields`, optional `topic`, `doc`, `len`,
    `aliases`, as in messages.toml), whose fields may be the `known` messages; SchemaError naming
    the message and field otherwise."""
    if not re.match(r"^[A-Z][A-Za-z0-9]*$", name):
        raise SchemaError(f"{name}: message names are CamelCase identifiers")
    fields: list[Field] = []
    offset = 0
    for raw in spec.get("fields", []):
        field = _field(name, raw, offset, known or {})
        taken = {f.name for f in fields} | {f.name + LEN_SUFFIX for f in fields if f.kind == "list"}
        if field.name in taken or (field.kind == "list" and field.name + LEN_SUFFIX in taken):
            raise SchemaError(f"{name}.{field.name}: declared twice (a list T[..N] also names NAME{LEN_SUFFIX})")
        fields.append(field)
        offset = field.offset + field.size
    if not fields:
        raise SchemaError(f"{name}: a message has at least one field")
    length = spec.get("len", "")
    if length and not any(f.name == length and f.kind == "list" for f in fields):
        raise SchemaError(f"{name}: len = {length!r} names no list field (T[..N]) of {name}")
    aliases = spec.get("aliases", {})
    names = {f.name for f in fields}
    for alias, target in aliases.items():
        if target not in names or alias in names:
            raise SchemaError(f"{name}: alias {alias} = {target!r} must name a field and not be one")
    align = max(f.align for f in fields)
    size = -(-offset // align) * align
    topic, doc = spec.get("topic", name.lower()), spec.get("doc", "")
    methods = spec.get("methods", "")
    if methods and not re.match(r"^[A-Z][A-Za-z0-9]*Methods$", methods):
        raise SchemaError(f"{name}: methods = {methods!r} is not a mixin name (CamelCase, ending in Methods)")
    return Layout(name, topic, doc, tuple(fields), size, length, aliases, methods)


def with_nested(layout: Layout) -> list[Layout]:
    """The layout after every message it nests, each once, inner first: what a C header of it
    needs, in an order C accepts (a struct is defined before a struct that holds it)."""
    ordered: list[Layout] = []
    for f in layout.fields:
        for inner in [] if f.nested is None else with_nested(f.nested):
            if inner not in ordered:
                ordered.append(inner)
    return [*ordered, layout]


def load(path: Path) -> list[Layout]:
    """A schema file's messages (messages.toml's format), laid out."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    layouts: dict[str, Layout] = {}
    for name, spec in data.items():
        layouts[name] = lay_out(name, spec, layouts)  # a message nests only those defined before it
    return list(layouts.values())


def _py_default(value: object) -> str:
    """The default as Python source, written as the project's formatter writes it."""
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _py_type(f: Field) -> str:
    """The Python type of a field's value, for type checkers and readers."""
    if f.nested is not None:
        scalar = f.scalar
    elif f.kind == "str" or f.scalar == "str":
        scalar = "str"
    else:
        scalar = "float" if f.scalar[0] == "f" else "int" if f.scalar[0] in "iu" else f.scalar
    return f"list[{scalar}]" if f.kind in ("array", "list") else scalar


def _py_field(f: Field) -> str:
    """The Field(...) of a generated class: a nested message names its class, defined above it."""
    default = "None" if f.nested is not None else _py_default(f.default)
    extra = (f", {f.width}" if f.width else "") + (f", message={f.scalar}" if f.nested is not None else "")
    return f'        Field("{f.name}", "{f.kind}", "{f.scalar}", {f.count}, {default}{extra}),'


def render_python(messages: list[Layout]) -> str:
    out = [
        '"""HORUS\'s standard messages, over fixed binary layouts shared with C (csrc/horus_msgs.h).',
        "",
        f"Generated by {STANDARD_SOURCE}: do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import math",
        *(["from types import MappingProxyType"] if any(m.aliases for m in messages) else []),
        "",
        *(["from . import message_methods as _methods"] if any(m.methods for m in messages) else []),
        "from .message import Field, Message",
        "",
        "__all__ = [",
        *(f'    "{name}",' for name in sorted(m.name for m in messages)),
        "]",
    ]
    for m in messages:
        out += [
            "",
            "",
            f"class {m.name}({f'_methods.{m.methods}, ' if m.methods else ''}Message):",
            f'    """{m.doc}"""',
            "",
            "    __slots__ = (",
            *(f'        "{name}",' for name in sorted(f.name for f in m.fields)),
            "    )",
            *(f"    {f.name}: {_py_type(f)}" for f in m.fields),
            f'    __topic_name__ = "{m.topic}"',
            "    FIELDS = (",
            *(_py_field(f) for f in m.fields),
            "    )",
            f'    FORMAT = "{m.struct_format()}"',
            f"    SIZE = {m.size}",
            f"    TYPE_ID = 0x{m.type_id:08X}",
            f"    LAYOUT_HASH = 0x{m.layout_hash:016X}",
        ]
        if m.aliases:
            out.append(f"    ALIASES = MappingProxyType({m.aliases!r})".replace("'", '"'))
        if m.length:
            out += ["", "    def __len__(self) -> int:", f"        return len(self.{m.length})"]
    return "\n".join(out) + "\n"


def _c_element(f: Field) -> str:
    """The C type of one element: a nested message's struct, char for strings, else the scalar's."""
    if f.nested is not None:
        return f"horus_msg_{f.nested.snake}"
    return "char" if f.kind == "str" or f.scalar == "str" else SCALARS[f.scalar][2]


def _c_field(f: Field) -> str:
    element = f"{_c_element(f)} {f.name}"
    if f.kind == "list":
        items = f"{element}[{f.count}][{f.width}]" if f.scalar == "str" else f"{element}[{f.count}]"
        return f"  uint16_t {f.name}{LEN_SUFFIX}; /* how many of {f.name} are set */\n  {items};"
    return f"  {element}{f'[{f.count}]' if f.kind in ('str', 'array') else ''};"


def _c_offset_assert(m: Layout, f: Field) -> str:
    members = [(f.name + LEN_SUFFIX, f.offset), (f.name, f.items_offset)] if f.kind == "list" else [(f.name, f.offset)]
    return "\n".join(
        f'_Static_assert(offsetof(horus_msg_{m.snake}, {name}) == {at}, "{m.name}.{name} at {at}");'
        for name, at in members
    )


STANDARD_C_TITLE = (
    "horus_msgs.h: HORUS's standard messages as C structs, the layouts Python's horus.messaging.messages packs."
)
STANDARD_SOURCE = "horus_core/msgs/generate.py from horus_core/msgs/messages.toml"


def render_c(
    messages: list[Layout], title: str = STANDARD_C_TITLE, source: str = STANDARD_SOURCE, guard: str = "HORUS_MSGS_H"
) -> str:
    """The C header of these messages: one struct each, every size and offset asserted."""
    out = [
        "/*",
        f"** {title}",
        "**",
        f"** Generated by {source}: do not edit.",
        "** Every size and offset is asserted, so a compiler that lays a struct out otherwise refuses",
        "** this header instead of misreading messages. On a topic each message travels with its",
        "** HORUS_MSG_*_TYPE_ID and HORUS_MSG_*_LAYOUT_HASH; a receiver refuses one whose hash differs.",
        "** str fields are UTF-8, NUL-padded, and not NUL-terminated when full.",
        "** A list (T[..N] in the schema) is `uint16_t NAME_len` and N items, of which the first NAME_len",
        "** are set; a receiver refuses a NAME_len above N.",
        "*/",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdbool.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
    ]
    for m in messages:
        upper = m.snake.upper()
        out += [
            "",
            f'/* {m.name} (topic "{m.topic}"): {m.doc} */',
            f"#define HORUS_MSG_{upper}_TYPE_ID {m.type_id:#010x}u",
            f"#define HORUS_MSG_{upper}_LAYOUT_HASH {m.layout_hash:#018x}ull",
            f"typedef struct horus_msg_{m.snake} {{",
            *(_c_field(f) for f in m.fields),
            f"}} horus_msg_{m.snake};",
            f'_Static_assert(sizeof(horus_msg_{m.snake}) == {m.size}, "{m.name}: {m.size} bytes");',
            "/* type id, layout hash, size: the arguments horus_msg_topic_open (horus_node.h) takes */",
            f"#define HORUS_MSG_{upper} HORUS_MSG_{upper}_TYPE_ID, HORUS_MSG_{upper}_LAYOUT_HASH, "
            f"(uint32_t)sizeof(horus_msg_{m.snake})",
            *(_c_offset_assert(m, f) for f in m.fields),
        ]
    each = f"{guard.removesuffix('_H')}_EACH"
    out += [
        "",
        f"/* Every message of this header, for table-driven code: {each}(X) expands to",
        "   X(Name, struct type, HORUS_MSG_<NAME>) for each, in the order above. */",
        f"#define {each}(X) \\",
        *(f"  X({m.name}, horus_msg_{m.snake}, HORUS_MSG_{m.snake.upper()}) \\" for m in messages),
        "",
        "",
        f"#endif /* {guard} */",
    ]
    return "\n".join(out) + "\n"
