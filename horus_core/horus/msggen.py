"""A team's own typed messages, as upstream HORUS's horus.msggen offers them, through the generator
of the standard set (horus.messaging.msglayout): Python classes and C structs of the same bytes.

    from horus.msggen import register_message, build_messages

    register_message("RobotStatus", "robot/status", [
        ("battery_level", "f32"), ("error_code", "i32"), ("is_active", "bool"), ("timestamp", "u64"),
    ])
    build_messages()                          # horus.RobotStatus, a typed message like horus.CmdVel
    build_messages(c_header="robot_msgs.h")   # and its C struct, for compiled nodes on the same topics

Field types are the schema's (bool, u8 ... i64, f32, f64, str[N], T[N], T[..N], str[W][..N]) or
upstream's spellings of them: float/float64 (f64), float32 (f32), int (i64), uint (u64),
boolean (bool), str/string (str[64]: a fixed layout holds at most 64 bytes) and
vec_f32/vec_f64/vec_i32/vec_u8 (lists of at most 256). A message registered before is a type too
(Reading, Reading[4], Reading[..16]): its struct nested, its class as the value. Every process on a topic must build the
same definition: the layout hash travels with each message and a mismatch is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

from .messaging import msglayout
from .messaging.message import Field, Message, message_type

# Upstream's type names (its msggen TYPE_MAP) -> ours. Its String and Vec<T> grow; ours are bounded.
UPSTREAM_TYPES = {
    "float": "f64",
    "float64": "f64",
    "float32": "f32",
    "int": "i64",
    "uint": "u64",
    "boolean": "bool",
    "str": "str[64]",
    "string": "str[64]",
    "vec_f32": "f32[..256]",
    "vec_f64": "f64[..256]",
    "vec_i32": "i32[..256]",
    "vec_u8": "u8[..256]",
}
_DEFAULTS = {"bool": False, "f32": 0.0, "f64": 0.0}

_registered: dict[str, msglayout.Layout] = {}


def register_message(name: str, topic: str, fields: list[tuple[str, str]], doc: str | None = None) -> None:
    """Define message `name` on `topic` with (field, type) pairs, in constructor order; build_messages()
    makes it. SchemaError (a ValueError) at once for a type or name the layout cannot hold."""
    if hasattr(sys.modules["horus"], name) and name not in _registered:
        raise msglayout.SchemaError(f"{name}: horus already has a {name}; choose another message name")
    spec = {
        "topic": topic,
        "doc": doc or "A custom message (horus.msggen).",
        "fields": [_field(f, t) for f, t in fields],
    }
    _registered[name] = msglayout.lay_out(name, spec, _registered)


def _field(name: str, type_text: str) -> list[Any]:
    ours = UPSTREAM_TYPES.get(type_text.strip().lower(), type_text.strip())
    element = ours.split("[", 1)[0]
    default = "" if element == "str" else _DEFAULTS.get(element, 0)
    return [name, ours, default]


def build_messages(force: bool = False, verbose: bool = False, c_header: str | Path | None = None) -> bool:
    """Make every registered message a class of horus (horus.RobotStatus), and with `c_header` write
    their C structs there. A class already built from the same definition is kept (`force` rebuilds).
    Returns True. Two different definitions under one name in one process are an error."""
    horus = sys.modules["horus"]
    for layout in _registered.values():
        existing = message_type(layout.type_id)
        if existing is not None and not force:
            if layout.layout_hash != existing.LAYOUT_HASH:
                raise msglayout.SchemaError(f"{layout.name} is already built with another layout in this process")
            continue
        setattr(horus, layout.name, message_class(layout))
        if verbose:
            print(f"horus.{layout.name}: {layout.size} bytes on topic {layout.topic!r}")
    if c_header is not None:
        write_c_header(c_header)
    return True


def message_class(layout: msglayout.Layout) -> type[Message]:
    """The Python class of a laid-out message, as generated for the standard set."""
    # A nested message was registered, so built, before this one: its class is known by now.
    fields = tuple(
        Field(f.name, f.kind, f.scalar, f.count, f.default, f.width, None if f.nested is None else _built(f.nested))
        for f in layout.fields
    )
    namespace = {
        "__doc__": layout.doc,
        "__slots__": tuple(sorted(f.name for f in layout.fields)),
        "__topic_name__": layout.topic,
        "__module__": "horus",
        "FIELDS": fields,
        "FORMAT": layout.struct_format(),
        "SIZE": layout.size,
        "TYPE_ID": layout.type_id,
        "LAYOUT_HASH": layout.layout_hash,
    }
    return cast(type[Message], type(layout.name, (Message,), namespace))


def _built(layout: msglayout.Layout) -> type[Message]:
    cls = message_type(layout.type_id)
    if cls is None:
        raise msglayout.SchemaError(f"{layout.name} is nested but not built yet: build_messages() builds both")
    return cls


def write_c_header(path: str | Path) -> Path:
    """Write the registered messages' C structs to `path` (sizes and offsets asserted, as horus_msgs.h)."""
    out = Path(path)
    guard = "".join(c if c.isalnum() else "_" for c in out.name).upper()
    text = msglayout.render_c(
        list(_registered.values()),
        title=f"{out.name}: custom HORUS messages as C structs",
        source="horus.msggen",
        guard=guard,
    )
    out.write_text(text)
    return out


def generate_message(
    name: str, topic: str, fields: list[tuple[str, str]], doc: str | None = None, output_dir: str | Path | None = None
) -> str:
    """Register one message and return its C header text (written to output_dir/<name>.h if given):
    upstream's generate_message, with C where upstream has Rust. The header holds the messages it
    nests too, so it compiles alone."""
    register_message(name, topic, fields, doc)
    text = msglayout.render_c(
        msglayout.with_nested(_registered[name]),
        title=f"{name}: a custom HORUS message as a C struct",
        source="horus.msggen",
        guard=f"HORUS_MSG_{_registered[name].snake.upper()}_H",
    )
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / f"{name.lower()}.h").write_text(text)
    return text


def generate_messages_from_yaml(yaml_path: str | Path, output_dir: str | Path | None = None) -> list[str]:
    """Register every message of a YAML file, upstream's format::

        messages:
          - name: RobotStatus
            topic: robot/status
            doc: Robot status information      # optional
            fields:
              - {name: battery_level, type: f32}

    and return each one's C header text (written to output_dir as generate_message does).
    JSON is YAML too; other YAML needs PyYAML. Raises ValueError naming the file and the entry
    that is malformed."""
    path = Path(yaml_path)
    data = _load_yaml(path)
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        raise ValueError(f"{path}: expected a top-level 'messages:' list of messages")
    out = []
    for i, entry in enumerate(messages):
        where = f"{path}: messages[{i}]"
        if not isinstance(entry, dict) or not {"name", "topic", "fields"} <= entry.keys():
            raise ValueError(f"{where}: each message needs name, topic and fields")
        fields = entry["fields"]
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and {"name", "type"} <= f.keys() for f in fields
        ):
            raise ValueError(f"{where} ({entry['name']}): fields is a list of {{name: ..., type: ...}}")
        pairs = [(str(f["name"]), str(f["type"])) for f in fields]
        out.append(generate_message(str(entry["name"]), str(entry["topic"]), pairs, entry.get("doc"), output_dir))
    return out


def _load_yaml(path: Path) -> Any:
    # The parameter files' reader: JSON, TOML by suffix, YAML beyond JSON with PyYAML.
    from .runtime.params import _parse

    try:
        return _parse(path, path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is malformed: {exc}") from exc


def check_needs_rebuild() -> bool:
    """True while a registered message is not yet a class of this process (build_messages() makes it)."""
    return any(message_type(layout.type_id) is None for layout in _registered.values())
