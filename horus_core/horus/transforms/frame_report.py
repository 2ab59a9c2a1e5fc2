"""What a TransformFrame tree says about itself: upstream's validate, frame_info, frames_as_dot and
frames_as_yaml (the shape of ROS 2 tf2's allFramesAsYAML), read from a snapshot of the tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import HorusTransformError


@dataclass(frozen=True)
class FrameView:
    """One frame as the report sees it, taken under the tree's lock."""

    name: str
    id: int
    parent: str | None
    is_static: bool
    stamps: tuple[int, ...]  # the timestamps of its history, oldest first (ns)


def validate(frames: Mapping[str, FrameView]) -> None:
    """Raise HorusTransformError naming the first frame whose parent is unknown or whose chain loops."""
    for name, frame in frames.items():
        seen = [name]
        parent = frame.parent
        while parent is not None:
            if parent not in frames:
                raise HorusTransformError(
                    f"frame {seen[-1]!r} has parent {parent!r}, which is not registered: register {parent!r} first"
                )
            if parent in seen:
                loop = " -> ".join([*seen, parent])
                raise HorusTransformError(f"frame {name!r} is in a parent loop ({loop}): re-register one of them")
            seen.append(parent)
            parent = frames[parent].parent


def depth(frames: Mapping[str, FrameView], name: str) -> int:
    """Steps from `name` up to its root (a root is 0); a tree that fails validate() has no depth."""
    steps, parent = 0, frames[name].parent
    while parent is not None:
        steps += 1
        parent = frames[parent].parent
        if steps > len(frames):
            raise HorusTransformError(f"frame {name!r} is in a parent loop: call validate() for where")
    return steps


def info(frames: Mapping[str, FrameView], name: str) -> dict[str, object]:
    """Upstream's frame_info dict: name, id, parent, is_static, children_count, depth, time_range."""
    frame = frames[name]
    children = sum(1 for other in frames.values() if other.parent == name)
    span = (frame.stamps[0], frame.stamps[-1]) if frame.stamps else None
    return {
        "name": name,
        "id": frame.id,
        "parent": frame.parent,
        "is_static": frame.is_static,
        "children_count": children,
        "depth": depth(frames, name),
        "time_range": span,
    }


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def as_dot(frames: Mapping[str, FrameView]) -> str:
    """A Graphviz digraph, parent -> child, static links dashed (`dot -Tpng` draws it)."""
    lines = ["digraph frames {", "  rankdir=TB;"]
    lines += [f"  {_quote(name)};" for name, frame in frames.items() if frame.parent is None]
    for name, frame in frames.items():
        if frame.parent is not None:
            style = ' [style=dashed, label="static"]' if frame.is_static else ""
            lines.append(f"  {_quote(frame.parent)} -> {_quote(name)}{style};")
    return "\n".join([*lines, "}"]) + "\n"


def _yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def as_yaml(frames: Mapping[str, FrameView]) -> str:
    """tf2's allFramesAsYAML: per child frame its parent, broadcaster, rate (Hz over its history),
    newest and oldest transform times (s) and the span between them (s); roots are not listed."""
    out = []
    for name, frame in frames.items():
        if frame.parent is None:
            continue
        stamps = frame.stamps
        newest = stamps[-1] / 1e9 if stamps else 0.0
        oldest = stamps[0] / 1e9 if stamps else 0.0
        span = newest - oldest
        rate = (len(stamps) - 1) / span if len(stamps) > 1 and span > 0 else 10000.0 if frame.is_static else 0.0
        out += [
            f"{_yaml_string(name)}:",
            f"  parent: {_yaml_string(frame.parent)}",
            "  broadcaster: 'horus'",
            f"  rate: {rate:.3f}",
            f"  most_recent_transform: {newest:.9f}",
            f"  oldest_transform: {oldest:.9f}",
            f"  buffer_length: {span:.9f}",
        ]
    return "\n".join(out) + ("\n" if out else "")
