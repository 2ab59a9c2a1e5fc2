"""Helpers the mixins share: field assignment, stamped constructors, finiteness, bounded lists, boxes."""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

if TYPE_CHECKING:
    from ..message import Message


def assign(target: Any, **values: Any) -> None:
    """Set fields of a message (checked, as any assignment to it) or attributes of an object:
    what a mixin's methods change."""
    for name, value in values.items():
        setattr(target, name, value)


class AreaMethods:
    """Rectangles: BoundingBox2D (px, float) and RegionOfInterest (px, int)."""

    __slots__ = ()
    width: float
    height: float

    def area(self) -> float:
        return self.width * self.height


class Box(Protocol):
    """An image box from its top-left corner (px): the message's and horus.perception's."""

    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def width(self) -> float: ...
    @property
    def height(self) -> float: ...


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0.0 if they do not overlap or have no area."""
    overlap_w = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    overlap_h = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if overlap_w <= 0.0 or overlap_h <= 0.0:
        return 0.0
    overlap = overlap_w * overlap_h
    union = a.width * a.height + b.width * b.height - overlap
    return overlap / union if union > 0.0 else 0.0


class BoxMethods:
    """Upstream's BoundingBox2D helpers, shared by the message and horus.perception's box."""

    __slots__ = ()
    x: float
    y: float
    width: float
    height: float

    @classmethod
    def from_center(cls, cx: float, cy: float, width: float, height: float) -> Any:
        """The box of this centre and size (YOLO's format)."""
        return cast(Any, cls)(cx - width / 2.0, cy - height / 2.0, width, height)

    @property
    def center_x(self) -> float:
        return self.x + self.width / 2.0

    @property
    def center_y(self) -> float:
        return self.y + self.height / 2.0

    def iou(self, other: Box) -> float:
        return iou(self, other)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """(x, y, width, height)."""
        return (self.x, self.y, self.width, self.height)

    def as_xyxy(self) -> tuple[float, float, float, float]:
        """(x1, y1, x2, y2): the top-left and bottom-right corners."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)


def append_item(msg: Message, name: str, item: Message, full: type[Exception] = OverflowError) -> None:
    """Append a copy of `item` to the bounded list `name` of `msg` (M[..N]); `full` (upstream's
    exception: OverflowError for most, ValueError for PlaneArray) once it holds N."""
    field = msg._BY_NAME[name]
    items = getattr(msg, name)
    if len(items) >= field.items:
        raise full(f"{type(msg).__name__}.{name}: at most {field.items} values")
    # The list is the message's own, so appending the checked copy keeps it valid, without
    # re-checking (and copying) the items already there.
    items.append(msg._item(field, item, f"{type(msg).__name__}.{name}"))


def copies(items: list[Any]) -> list[Any]:
    """Copies of nested messages, as upstream's getters return them: changing one changes nothing else."""
    return [type(item).from_bytes(item.to_bytes()) for item in items]


class MessageListMethods:
    """Upstream's accessors of a message's list of messages (LIST, M[..N]): a count, an add that
    raises FULL once N are there, and a get of copies; each message below names them as upstream."""

    __slots__ = ()
    LIST: ClassVar[str]
    FULL: ClassVar[type[Exception]] = OverflowError

    def _count(self) -> builtins.int:
        return len(getattr(self, self.LIST))

    def _add(self, item: Any) -> None:
        append_item(cast(Any, self), self.LIST, item, self.FULL)

    def _get(self) -> list[Any]:
        return copies(getattr(self, self.LIST))


def stamped(cls: type, **fields: Any) -> Any:
    """cls(**fields), stamped now (framework time) as upstream's constructors stamp their messages."""
    from ...runtime.clock import timestamp_ns

    if "timestamp_ns" in cast(Any, cls)._BY_NAME:
        fields.setdefault("timestamp_ns", timestamp_ns())
    return cast(Any, cls)(**fields)


def copy_of(msg: Any) -> Any:
    """An independent copy of a message, for upstream's with_*() builders that return a new one."""
    return copies([msg])[0]


def float_values(msg: Any) -> Iterable[builtins.float]:
    """Every float of a message's float fields (f32/f64 scalars and arrays), in field order."""
    for field in msg.FIELDS:
        if field.scalar in ("f32", "f64"):
            value = getattr(msg, field.name)
            yield from value if isinstance(value, list) else (value,)


def norm(values: Iterable[builtins.float]) -> builtins.float:
    return math.sqrt(sum(v * v for v in values))


def scale_fields(msg: Any, names: tuple[str, ...], minimum: builtins.float) -> bool:
    """Divide the fields `names` by their joint length if that exceeds `minimum`; whether it did."""
    length = norm(getattr(msg, n) for n in names)
    if length <= minimum:
        return False
    for name in names:
        setattr(msg, name, getattr(msg, name) / length)
    return True


def yaw_quaternion(theta: builtins.float) -> tuple[builtins.float, builtins.float, builtins.float, builtins.float]:
    """(x, y, z, w) of a rotation by theta about z: how upstream lifts a Pose2D into 3D."""
    return (0.0, 0.0, math.sin(theta / 2.0), math.cos(theta / 2.0))


class FiniteMethods:
    """is_valid() as upstream's for most messages: no float field is NaN or infinite."""

    __slots__ = ()

    def is_valid(self) -> bool:
        return all(map(math.isfinite, float_values(self)))


class RenamedFieldMethods:
    """Upstream's attribute names for fields this layout names otherwise (RENAMED: upstream -> ours)."""

    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Upstream's names as properties of the class too, so `hasattr(horus.NavGoal, "timeout_seconds")`
        # and help() see them, as they see upstream's getters.
        super().__init_subclass__(**kwargs)
        for upstream, ours in cls.__dict__.get("RENAMED", {}).items():
            setattr(cls, upstream, property(_getter(ours), _setter(ours), doc=f"upstream's name of `{ours}`"))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the field itself is found first.
        if name in self.RENAMED:
            return getattr(self, self.RENAMED[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(self.RENAMED.get(name, name), value)


def _getter(name: str) -> Any:
    return lambda self: getattr(self, name)


def _setter(name: str) -> Any:
    return lambda self, value: setattr(self, name, value)
