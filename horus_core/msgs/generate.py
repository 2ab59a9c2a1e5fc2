"""Generate HORUS's typed messages from messages.toml: one definition, two languages.

    python horus_core/msgs/generate.py            write horus/messages.py and csrc/horus_msgs.h
    python horus_core/msgs/generate.py --check    exit 1 if either is not what the schema gives

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

import argparse
import hashlib
import json
import math
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "messages.toml"
PYTHON_OUT = HERE.parent / "horus" / "messages.py"
C_OUT = HERE.parent / "csrc" / "horus_msgs.h"

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
_COUNTED = re.compile(r"^(\w+)\[([1-9][0-9]*)\]$")


class SchemaError(Exception):
    """messages.toml says something the generator cannot lay out; the message names the field."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a scalar type, "str" or "array"
    scalar: str  # the element type ("u8" for str)
    count: int  # 1 for a scalar, N for str[N] and T[N]
    default: object
    offset: int

    @property
    def size(self) -> int:
        return SCALARS[self.scalar][1] * self.count

    @property
    def align(self) -> int:
        return SCALARS[self.scalar][1]

    @property
    def type_text(self) -> str:
        return (
            self.scalar
            if self.kind not in ("str", "array")
            else f"{'str' if self.kind == 'str' else self.scalar}[{self.count}]"
        )


@dataclass(frozen=True)
class Message:
    name: str
    topic: str
    doc: str
    fields: tuple[Field, ...]
    size: int

    @property
    def snake(self) -> str:
        return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", self.name).lower()

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
            code = SCALARS[f.scalar][0]
            parts.append(f"{f.count}s" if f.kind == "str" else f"{f.count}{code}" if f.kind == "array" else code)
            at = f.offset + f.size
        if self.size > at:
            parts.append(f"{self.size - at}x")
        return "".join(parts)


def _field(message: str, raw: object, offset: int) -> Field:
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str) and isinstance(raw[1], str)):
        raise SchemaError(f"{message}: a field is [name, type, default], got {raw!r}")
    name, text, default = raw
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise SchemaError(f"{message}.{name}: field names are lower_case identifiers")
    counted = _COUNTED.match(text)
    if counted:
        element, count = counted.group(1), int(counted.group(2))
        kind, scalar = ("str", "u8") if element == "str" else ("array", element)
    else:
        kind, scalar, count = text, text, 1
    if scalar not in SCALARS:
        raise SchemaError(f"{message}.{name}: unknown type {text!r} (one of {', '.join(SCALARS)}, str[N], T[N])")
    align = SCALARS[scalar][1]
    return Field(name, kind, scalar, count, default, -(-offset // align) * align)


def load(path: Path = SCHEMA) -> list[Message]:
    """The schema's messages, laid out; refuses anything it cannot lay out, naming the message and field."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    messages = []
    for name, spec in data.items():
        if not re.match(r"^[A-Z][A-Za-z0-9]*$", name):
            raise SchemaError(f"{name}: message names are CamelCase identifiers")
        fields: list[Field] = []
        offset = 0
        for raw in spec.get("fields", []):
            field = _field(name, raw, offset)
            if any(f.name == field.name for f in fields):
                raise SchemaError(f"{name}.{field.name}: declared twice")
            fields.append(field)
            offset = field.offset + field.size
        if not fields:
            raise SchemaError(f"{name}: a message has at least one field")
        align = max(f.align for f in fields)
        messages.append(
            Message(
                name, spec.get("topic", name.lower()), spec.get("doc", ""), tuple(fields), -(-offset // align) * align
            )
        )
    return messages


def _py_default(value: object) -> str:
    """The default as Python source, written as the project's formatter writes it."""
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def render_python(messages: list[Message]) -> str:
    out = [
        '"""HORUS\'s standard messages, over fixed binary layouts shared with C (csrc/horus_msgs.h).',
        "",
        "Generated by horus_core/msgs/generate.py from horus_core/msgs/messages.toml: do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import math",
        "",
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
            f"class {m.name}(Message):",
            f'    """{m.doc}"""',
            "",
            "    __slots__ = (",
            *(f'        "{name}",' for name in sorted(f.name for f in m.fields)),
            "    )",
            f'    __topic_name__ = "{m.topic}"',
            "    FIELDS = (",
            *(
                f'        Field("{f.name}", "{f.kind}", "{f.scalar}", {f.count}, {_py_default(f.default)}),'
                for f in m.fields
            ),
            "    )",
            f'    FORMAT = "{m.struct_format()}"',
            f"    SIZE = {m.size}",
            f"    TYPE_ID = 0x{m.type_id:08X}",
            f"    LAYOUT_HASH = 0x{m.layout_hash:016X}",
        ]
    return "\n".join(out) + "\n"


def _c_field(f: Field) -> str:
    ctype = "char" if f.kind == "str" else SCALARS[f.scalar][2]
    return f"  {ctype} {f.name}{f'[{f.count}]' if f.kind in ('str', 'array') else ''};"


def _c_offset_assert(m: Message, f: Field) -> str:
    where = f'"{m.name}.{f.name} at {f.offset}"'
    return f"_Static_assert(offsetof(horus_msg_{m.snake}, {f.name}) == {f.offset}, {where});"


def render_c(messages: list[Message]) -> str:
    out = [
        "/*",
        "** horus_msgs.h: HORUS's standard messages as C structs, the layouts Python's horus.messages packs.",
        "**",
        "** Generated by horus_core/msgs/generate.py from horus_core/msgs/messages.toml: do not edit.",
        "** Every size and offset is asserted, so a compiler that lays a struct out otherwise refuses",
        "** this header instead of misreading messages. On a topic each message travels with its",
        "** HORUS_MSG_*_TYPE_ID and HORUS_MSG_*_LAYOUT_HASH; a receiver refuses one whose hash differs.",
        "** str fields are UTF-8, NUL-padded, and not NUL-terminated when full.",
        "*/",
        "#ifndef HORUS_MSGS_H",
        "#define HORUS_MSGS_H",
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
            *(_c_offset_assert(m, f) for f in m.fields),
        ]
    out += ["", "#endif /* HORUS_MSGS_H */"]
    return "\n".join(out) + "\n"


def outputs() -> dict[Path, str]:
    messages = load()
    return {PYTHON_OUT: render_python(messages), C_OUT: render_c(messages)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="generate.py",
        description="Generate horus/messages.py and csrc/horus_msgs.h from messages.toml (one definition).",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        files = outputs()
    except SchemaError as exc:
        print(f"error: {SCHEMA}: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run python {Path(__file__).relative_to(HERE.parent.parent)}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
