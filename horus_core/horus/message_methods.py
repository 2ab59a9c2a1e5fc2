"""Upstream HORUS's convenience methods of some messages, as mixins of the generated classes.

messages.toml says which message takes which mixin (`methods = "...Methods"`); the fields stay
the schema's, and these only read or append to them. Each mixin names the fields it uses.
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

if TYPE_CHECKING:
    from .frames import OccupancyGrid
    from .message import Message
    from .messages import BoundingBox2D, BoundingBox3D, CameraInfo, Pose2D, Twist, Vector3

MAX_JOINTS = 16


def assign(target: Any, **values: Any) -> None:
    """Set fields of a message (checked, as any assignment to it) or attributes of an object:
    what a mixin's methods change."""
    for name, value in values.items():
        setattr(target, name, value)


class JointCommandMethods:
    """Per-joint lists stay aligned by index: adding a joint pads the other lists with 0."""

    __slots__ = ()
    names: list[str]
    positions: list[float]
    velocities: list[float]
    efforts: list[float]
    modes: list[int]

    def add_position(self, name: str, position: float) -> None:
        """Command joint `name` to `position` (mode 0); ValueError beyond 16 joints."""
        self._add_joint(name, "positions", position, mode=0)

    def add_velocity(self, name: str, velocity: float) -> None:
        """Command joint `name` at `velocity` (mode 1); ValueError beyond 16 joints."""
        self._add_joint(name, "velocities", velocity, mode=1)

    def _add_joint(self, name: str, field: str, value: float, mode: int) -> None:
        if len(self.names) >= MAX_JOINTS:
            raise ValueError(f"{type(self).__name__}: at most {MAX_JOINTS} joints; {name!r} is one too many")
        joint = len(self.names)
        # Assigned, not appended, so the message checks the values (a slot of the generated class).
        self.names = [*self.names, name]  # type: ignore[misc]
        for other in ("positions", "velocities", "efforts"):
            values = getattr(self, other)[:joint]
            values += [0.0] * (joint - len(values))
            setattr(self, other, [*values, value if other == field else 0.0])
        modes = self.modes[:joint]
        self.modes = [*modes, *[0] * (joint - len(modes)), mode]  # type: ignore[misc]

    def is_valid(self) -> bool:
        """Every value finite, and no list longer than the joint names."""
        lists = (self.positions, self.velocities, self.efforts)
        return all(len(values) <= len(self.names) and all(map(math.isfinite, values)) for values in lists)


class CameraInfoMethods:
    __slots__ = ()
    fx: float
    fy: float
    cx: float
    cy: float

    def focal_lengths(self) -> tuple[float, float]:
        """(fx, fy) in pixels."""
        return (self.fx, self.fy)

    def principal_point(self) -> tuple[float, float]:
        """(cx, cy) in pixels."""
        return (self.cx, self.cy)


class DetectionCoreMethods:
    """Detections (the message and horus.perception's, which take the same constructor arguments)."""

    __slots__ = ()
    confidence: float

    @classmethod
    def from_bbox(cls, bbox: Box, class_name: str, confidence: float, class_id: int = 0, instance_id: int = 0) -> Any:
        """A detection of `class_name` in `bbox` (the message's box or horus.perception's)."""
        return cast(Any, cls)(class_name, confidence, bbox.x, bbox.y, bbox.width, bbox.height, class_id, instance_id)

    def is_confident(self, threshold: float) -> bool:
        """Confidence at least `threshold`."""
        return self.confidence >= threshold


class DetectionMethods(DetectionCoreMethods):
    __slots__ = ()
    x: float
    y: float
    width: float
    height: float

    @property
    def bbox(self) -> BoundingBox2D:
        """The detection's box as a BoundingBox2D (a copy)."""
        from .messages import BoundingBox2D

        return BoundingBox2D(self.x, self.y, self.width, self.height)


class Detection3DMethods:
    __slots__ = ()
    cx: float
    cy: float
    cz: float
    length: float
    width: float
    height: float
    yaw: float

    @property
    def bbox(self) -> BoundingBox3D:
        """The detection's box as a BoundingBox3D (a copy)."""
        from .messages import BoundingBox3D

        return BoundingBox3D(self.cx, self.cy, self.cz, self.length, self.width, self.height, self.yaw)


class WaypointMethods:
    __slots__ = ()
    x: float
    y: float
    theta: float

    @property
    def pose(self) -> Pose2D:
        """The waypoint's pose as a Pose2D (a copy)."""
        from .messages import Pose2D

        return Pose2D(self.x, self.y, self.theta)


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


class BoundingBox2DMethods(BoxMethods, AreaMethods):
    """area() stays a method here (as this message always had it); horus.perception's box has
    upstream's area property."""

    __slots__ = ()


class RegionOfInterestMethods(AreaMethods):
    __slots__ = ()
    x_offset: int
    y_offset: int
    width: int
    height: int

    def contains(self, x: int, y: int) -> bool:
        """Whether pixel (x, y) is inside: the offsets count in, offset + size is outside."""
        return self.x_offset <= x < self.x_offset + self.width and self.y_offset <= y < self.y_offset + self.height


class PathPlanMethods:
    __slots__ = ()
    waypoint_data: list[float]

    @property
    def waypoint_count(self) -> int:
        """Waypoints in waypoint_data (x, y, theta each)."""
        return len(self.waypoint_data) // 3


class TimeReferenceMethods:
    __slots__ = ()
    offset_ns: int

    def correct_timestamp(self, local_ns: int) -> int:
        """A local clock reading in the reference's time: the local clock runs offset_ns ahead."""
        return local_ns - self.offset_ns


class ImpedanceParametersMethods:
    """Upstream's presets (our values): a soft axis that yields to contact, and a stiff one that holds."""

    __slots__ = ()

    @classmethod
    def compliant(cls) -> Any:
        return cast(Any, cls)(stiffness=[100.0] * 6, damping=[20.0] * 6, enabled=True)

    @classmethod
    def stiff(cls) -> Any:
        return cast(Any, cls)(stiffness=[10000.0] * 6, damping=[200.0] * 6, enabled=True)


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


class LandmarkArrayMethods:
    """Upstream's presets: the landmark sets of the common pose models."""

    __slots__ = ()

    @classmethod
    def coco_pose(cls) -> Any:
        return cast(Any, cls)(17, 2)

    @classmethod
    def mediapipe_pose(cls) -> Any:
        return cast(Any, cls)(33, 3)

    @classmethod
    def mediapipe_hand(cls) -> Any:
        return cast(Any, cls)(21, 3)

    @classmethod
    def mediapipe_face(cls) -> Any:
        return cast(Any, cls)(468, 3)


class AudioFrameMethods:
    """Counts and duration from the samples, and upstream's constructors by channel layout."""

    __slots__ = ()
    samples: list[float]
    sample_rate: int
    channels: int

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @property
    def frame_count(self) -> int:
        """Samples per channel."""
        return len(self.samples) // max(self.channels, 1)

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frame_count / self.sample_rate if self.sample_rate else 0.0

    @classmethod
    def mono(cls, sample_rate: int, samples: list[float]) -> Any:
        return cast(Any, cls)(sample_rate, 1, samples)

    @classmethod
    def stereo(cls, sample_rate: int, samples: list[float]) -> Any:
        return cast(Any, cls)(sample_rate, 2, samples)

    @classmethod
    def multi_channel(cls, sample_rate: int, channels: int, samples: list[float]) -> Any:
        return cast(Any, cls)(sample_rate, channels, samples)


class VelocityObstacleMethods:
    """Upstream's constructor takes the position and velocity as x and y (its `py_`: `py` would
    shadow nothing in Python, but upstream spells it so); position= and velocity= take the lists."""

    __slots__ = ()

    def __init__(
        self,
        px: builtins.float = 0.0,
        py_: builtins.float = 0.0,
        vx: builtins.float = 0.0,
        vy: builtins.float = 0.0,
        radius: builtins.float = 0.0,
        time_horizon: builtins.float = 1.0,
        obstacle_id: builtins.int = 0,
        *,
        position: list[builtins.float] | None = None,
        velocity: list[builtins.float] | None = None,
    ) -> None:
        # The message's own __init__, next in the MRO (this mixin comes before Message).
        cast(Any, super()).__init__(
            position=[px, py_] if position is None else position,
            velocity=[vx, vy] if velocity is None else velocity,
            radius=radius,
            time_horizon=time_horizon,
            obstacle_id=obstacle_id,
        )


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


class DiagnosticReportMethods(MessageListMethods):
    __slots__ = ()
    LIST = "values"
    value_count = property(MessageListMethods._count)
    add_value = MessageListMethods._add
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
        from .messages import DiagnosticValue

        self.add_value(
            DiagnosticValue(key, value) if constructor is None else getattr(DiagnosticValue, constructor)(key, value)
        )


class NavPathMethods(MessageListMethods):
    __slots__ = ()
    LIST = "waypoints"
    waypoint_count = property(MessageListMethods._count)
    add_waypoint = MessageListMethods._add
    get_waypoints = MessageListMethods._get

    def closest_waypoint_index(self, current: Pose2D) -> builtins.int | None:
        """The index of the waypoint nearest `current` in the plane (the first of ties), None
        for an empty path."""
        waypoints = getattr(self, self.LIST)
        distances = [math.hypot(w.x - current.x, w.y - current.y) for w in waypoints]
        return distances.index(min(distances)) if distances else None

    def calculate_progress(self, current: Pose2D) -> builtins.float:
        """How far along the path `current` is: the nearest waypoint's index / the waypoint
        count (so the last waypoint reads (n - 1) / n, as upstream), 0.0 for an empty path."""
        index = self.closest_waypoint_index(current)
        return 0.0 if index is None else index / max(self._count(), 1)


class VelocityObstaclesMethods(MessageListMethods):
    __slots__ = ()
    LIST = "obstacles"
    count = property(MessageListMethods._count)
    add_obstacle = MessageListMethods._add
    get_obstacles = MessageListMethods._get


class PlaneArrayMethods(MessageListMethods):
    __slots__ = ()
    LIST = "planes"
    FULL = ValueError  # upstream's, unlike the other lists
    count = property(MessageListMethods._count)
    add_plane = MessageListMethods._add

    def __getitem__(self, index: builtins.int) -> Any:
        """A copy of plane `index`; IndexError past the last, as a list."""
        return copies([getattr(self, self.LIST)[index]])[0]


class StereoInfoMethods:
    """Depth and disparity of a rectified pair: depth = fx * baseline / disparity (the left camera's fx)."""

    __slots__ = ()
    left_camera: CameraInfo
    baseline: builtins.float

    def depth_from_disparity(self, disparity: builtins.float) -> builtins.float:
        """Depth (m) of a disparity (px); inf for 0 (a point at infinity)."""
        return self.left_camera.fx * self.baseline / disparity if disparity > 0 else math.inf

    def disparity_from_depth(self, depth: builtins.float) -> builtins.float:
        return self.left_camera.fx * self.baseline / depth if depth > 0 else 0.0


class TrackMethods:
    """A track's state, as upstream's tracker keeps it (the message and horus.perception's):
    0 tentative, 1 confirmed, 2 deleted. Nothing changes the state by itself: the tracker calls
    confirm() and delete(), going by hits, age and time_since_update."""

    __slots__ = ()
    bbox: Any
    confidence: builtins.float
    velocity_x: builtins.float
    velocity_y: builtins.float
    age: builtins.int
    hits: builtins.int
    time_since_update: builtins.int
    state: builtins.int

    @property
    def velocity(self) -> tuple[builtins.float, builtins.float]:
        return (self.velocity_x, self.velocity_y)

    def speed(self) -> builtins.float:
        return math.hypot(self.velocity_x, self.velocity_y)

    def heading(self) -> builtins.float:
        return math.atan2(self.velocity_y, self.velocity_x)

    def is_tentative(self) -> bool:
        return self.state == 0

    def is_confirmed(self) -> bool:
        return self.state == 1

    def is_deleted(self) -> bool:
        return self.state == 2

    def update(self, bbox: Any, confidence: builtins.float) -> None:
        """A detection matched this frame: the box and confidence, velocity the move of the
        box's centre (px per frame), one more hit, age + 1, time_since_update 0."""
        assign(
            self,
            velocity_x=bbox.center_x - self.bbox.center_x,
            velocity_y=bbox.center_y - self.bbox.center_y,
            # A copy, in this track's box class (the message's or horus.perception's).
            bbox=type(self.bbox)(bbox.x, bbox.y, bbox.width, bbox.height),
            confidence=confidence,
            hits=self.hits + 1,
            age=self.age + 1,
            time_since_update=0,
        )

    def mark_missed(self) -> None:
        """No detection matched this frame: age + 1, time_since_update + 1."""
        assign(self, age=self.age + 1, time_since_update=self.time_since_update + 1)

    def confirm(self) -> None:
        assign(self, state=1)

    def delete(self) -> None:
        assign(self, state=2)


class TrackedObjectMethods(TrackMethods):
    """Upstream's constructor takes the box as x, y, width, height; bbox= takes a BoundingBox2D."""

    __slots__ = ()

    def __init__(
        self,
        track_id: builtins.int = 0,
        x: builtins.float = 0.0,
        y: builtins.float = 0.0,
        width: builtins.float = 0.0,
        height: builtins.float = 0.0,
        class_id: builtins.int = 0,
        confidence: builtins.float = 0.0,
        **fields: Any,
    ) -> None:
        from .messages import BoundingBox2D

        fields.setdefault("bbox", BoundingBox2D(x, y, width, height))
        # The message's own __init__, next in the MRO (this mixin comes before Message).
        cast(Any, super()).__init__(track_id=track_id, class_id=class_id, confidence=confidence, **fields)


class TactileArrayMethods:
    """A rows x cols grid of forces kept row by row; the constructor makes every taxel 0."""

    __slots__ = ()
    rows: builtins.int
    cols: builtins.int
    forces: list[builtins.float]

    def __init__(self, rows: builtins.int = 0, cols: builtins.int = 0, **fields: Any) -> None:
        fields.setdefault("forces", [0.0] * (rows * cols))
        cast(Any, super()).__init__(rows=rows, cols=cols, **fields)

    def _taxel(self, row: builtins.int, col: builtins.int) -> builtins.int | None:
        inside = 0 <= row < self.rows and 0 <= col < self.cols and row * self.cols + col < len(self.forces)
        return row * self.cols + col if inside else None

    def get_force(self, row: builtins.int, col: builtins.int) -> builtins.float | None:
        """The taxel's force (N), None outside the grid."""
        at = self._taxel(row, col)
        return None if at is None else self.forces[at]

    def set_force(self, row: builtins.int, col: builtins.int, force: builtins.float) -> None:
        """Set the taxel's force (N), stored as the f32 it travels as; nothing outside the grid (as upstream)."""
        at = self._taxel(row, col)
        if at is not None:
            self.forces = [*self.forces[:at], force, *self.forces[at + 1 :]]  # type: ignore[misc]


class CostMapMethods:
    """The grid as upstream's CostMap holds it (at most 128 x 128 cells here): built from an
    OccupancyGrid, costs computed as upstream's inflation does it (a lethal cell, then a cost
    falling with distance to the inflation radius, 255 unknown)."""

    __slots__ = ()
    width: builtins.int
    height: builtins.int
    resolution: builtins.float
    origin_x: builtins.float
    origin_y: builtins.float
    origin_theta: builtins.float
    data: list[builtins.int]
    costs: list[builtins.int]
    inflation_radius: builtins.float
    cost_scaling_factor: builtins.float
    lethal_cost: builtins.int
    UNKNOWN_COST = 255

    def __init__(
        self, grid: OccupancyGrid | None = None, inflation_radius: builtins.float = 0.55, **fields: Any
    ) -> None:
        if grid is not None:
            fields.update(width=grid.width, height=grid.height, resolution=grid.resolution, data=grid.data)
            fields.update(origin_x=grid.origin[0], origin_y=grid.origin[1], origin_theta=grid.origin[2])
        cast(Any, super()).__init__(inflation_radius=inflation_radius, **fields)
        if grid is not None:
            self.compute_costs()

    @property
    def occupancy_grid(self) -> OccupancyGrid:
        """The grid (a copy)."""
        import numpy as np

        from .frames import OccupancyGrid

        grid = OccupancyGrid(self.width, self.height, self.resolution)
        grid.origin = (self.origin_x, self.origin_y, self.origin_theta)
        grid.to_numpy()[:] = np.array(self.data, dtype=np.int8).reshape(self.height, self.width)
        return grid

    def compute_costs(self) -> None:
        """Each cell's cost from the grid: lethal where occupied (>= 50), 255 unknown, else the
        highest of lethal - 1 scaled by exp(-cost_scaling_factor * distance) over occupied cells
        within inflation_radius, 0 beyond."""
        from .frames import OccupancyGrid

        reach = int(self.inflation_radius / self.resolution) if self.resolution > 0 else 0
        cells = [(i % self.width, i // self.width) for i, v in enumerate(self.data) if v >= OccupancyGrid.OCCUPIED]
        costs = [self.UNKNOWN_COST if v < 0 else 0 for v in self.data]
        for ox, oy in cells:
            for y in range(max(0, oy - reach), min(self.height, oy + reach + 1)):
                for x in range(max(0, ox - reach), min(self.width, ox + reach + 1)):
                    distance = math.hypot(x - ox, y - oy) * self.resolution
                    if distance <= self.inflation_radius and costs[y * self.width + x] != self.UNKNOWN_COST:
                        cost = (self.lethal_cost - 1) * math.exp(-self.cost_scaling_factor * distance)
                        costs[y * self.width + x] = max(costs[y * self.width + x], int(cost))
        for x, y in cells:
            costs[y * self.width + x] = self.lethal_cost
        self.costs = costs  # type: ignore[misc]

    def cost(self, x: builtins.float, y: builtins.float) -> builtins.int | None:
        """The cost of the cell holding point (x, y) (m), None outside the map."""
        if self.resolution <= 0:
            return None
        gx, gy = int((x - self.origin_x) // self.resolution), int((y - self.origin_y) // self.resolution)
        inside = 0 <= gx < self.width and 0 <= gy < self.height and gy * self.width + gx < len(self.costs)
        return self.costs[gy * self.width + gx] if inside else None


# ---- Shared helpers of upstream's convenience methods ----------------------------------------


def stamped(cls: type, **fields: Any) -> Any:
    """cls(**fields), stamped now (framework time) as upstream's constructors stamp their messages."""
    from .clock import timestamp_ns

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


# ---- Geometry -----------------------------------------------------------------------------------


class CmdVelMethods:
    __slots__ = ()

    @classmethod
    def zero(cls) -> Any:
        """A stop command: no forward or turning velocity."""
        return stamped(cls, linear=0.0, angular=0.0)


class TwistMethods(FiniteMethods):
    __slots__ = ()

    @classmethod
    def stop(cls) -> Any:
        """All velocities zero."""
        return stamped(cls)

    @classmethod
    def new_2d(cls, linear_x: builtins.float = 0.0, angular_z: builtins.float = 0.0) -> Any:
        """A planar twist: forward m/s and turn rad/s, the other axes zero."""
        return stamped(cls, linear_x=linear_x, angular_z=angular_z)


class PointMethods:
    """x, y, z points and vectors (Point3, Vector3)."""

    __slots__ = ()
    x: builtins.float
    y: builtins.float
    z: builtins.float

    def distance_to(self, other: PointMethods) -> builtins.float:
        return math.dist((self.x, self.y, self.z), (other.x, other.y, other.z))


class Point3Methods(PointMethods):
    __slots__ = ()

    @classmethod
    def origin(cls) -> Any:
        return cast(Any, cls)()


class Vector3Methods:
    __slots__ = ()
    x: builtins.float
    y: builtins.float
    z: builtins.float

    @classmethod
    def zero(cls) -> Any:
        return cast(Any, cls)()

    def magnitude(self) -> builtins.float:
        return norm((self.x, self.y, self.z))

    def normalize(self) -> None:
        """Scale to unit length in place; a (near) zero vector is left as it is, as upstream."""
        scale_fields(self, ("x", "y", "z"), 1e-12)

    def normalized(self) -> Vector3:
        """A unit-length copy; the zero vector for a zero vector."""
        length = self.magnitude()
        scale = 1.0 / length if length > 0.0 else 0.0
        return cast(Any, type(self))(self.x * scale, self.y * scale, self.z * scale)

    def dot(self, other: Vector3Methods) -> builtins.float:
        return self.x * other.x + self.y * other.y + self.z * other.z

    def cross(self, other: Vector3Methods) -> Vector3:
        a, b = self, other
        return cast(Any, type(self))(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)


class QuaternionMethods(FiniteMethods):
    __slots__ = ()

    @classmethod
    def identity(cls) -> Any:
        return cast(Any, cls)(0.0, 0.0, 0.0, 1.0)

    @classmethod
    def from_euler(cls, roll: builtins.float = 0.0, pitch: builtins.float = 0.0, yaw: builtins.float = 0.0) -> Any:
        """The rotation of roll about x, then pitch about y, then yaw about z (rad)."""
        cr, sr = math.cos(roll / 2.0), math.sin(roll / 2.0)
        cp, sp = math.cos(pitch / 2.0), math.sin(pitch / 2.0)
        cy, sy = math.cos(yaw / 2.0), math.sin(yaw / 2.0)
        return cast(Any, cls)(
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        )

    def normalize(self) -> None:
        """Scale to unit length in place (a zero quaternion stays zero)."""
        scale_fields(self, ("x", "y", "z", "w"), 0.0)


class Pose2DMethods(FiniteMethods):
    __slots__ = ()
    x: builtins.float
    y: builtins.float
    theta: builtins.float

    @classmethod
    def origin(cls) -> Any:
        return stamped(cls, x=0.0, y=0.0, theta=0.0)

    def distance_to(self, other: Pose2DMethods) -> builtins.float:
        """Distance in the plane (m); the headings do not count."""
        return math.hypot(self.x - other.x, self.y - other.y)

    def normalize_angle(self) -> None:
        """Bring theta into [-pi, pi] in place (an infinite or NaN theta is left as it is)."""
        if math.isfinite(self.theta):
            assign(self, theta=math.remainder(self.theta, math.tau))


class Pose3DMethods(FiniteMethods):
    __slots__ = ()
    x: builtins.float
    y: builtins.float
    z: builtins.float

    @classmethod
    def identity(cls) -> Any:
        return stamped(cls)

    @classmethod
    def from_pose_2d(cls, pose: Pose2D) -> Any:
        """The planar pose at z = 0, its heading as a rotation about z; keeps the pose's stamp."""
        qx, qy, qz, qw = yaw_quaternion(pose.theta)
        return cast(Any, cls)(pose.x, pose.y, 0.0, qx, qy, qz, qw, pose.timestamp_ns)

    def distance_to(self, other: Pose3DMethods) -> builtins.float:
        """Distance between the positions (m); the orientations do not count."""
        return math.dist((self.x, self.y, self.z), (other.x, other.y, other.z))


class TransformStampedMethods:
    __slots__ = ()
    ROTATION: ClassVar[tuple[str, ...]] = ("rx", "ry", "rz", "rw")

    @classmethod
    def identity(cls) -> Any:
        return stamped(cls)

    @classmethod
    def from_pose_2d(cls, pose: Pose2D) -> Any:
        rx, ry, rz, rw = yaw_quaternion(pose.theta)
        return stamped(cls, tx=pose.x, ty=pose.y, tz=0.0, rx=rx, ry=ry, rz=rz, rw=rw)

    def is_valid(self) -> bool:
        """Every value finite and the rotation a unit quaternion (within 1e-6)."""
        finite = all(map(math.isfinite, float_values(self)))
        return finite and abs(norm(getattr(self, n) for n in self.ROTATION) - 1.0) < 1e-6

    def normalize_rotation(self) -> None:
        """Scale the rotation to unit length in place (left as it is if (near) zero)."""
        scale_fields(self, self.ROTATION, 1e-12)


def diagonal(covariance: list[builtins.float], first: builtins.int) -> list[builtins.float]:
    """Three variances from the diagonal of a row-major 6x6 covariance, from row `first`."""
    return [covariance[i * 7] for i in range(first, first + 3)]


class PoseWithCovarianceMethods:
    __slots__ = ()
    covariance: list[builtins.float]

    def position_variance(self) -> list[builtins.float]:
        """[var_x, var_y, var_z]."""
        return diagonal(self.covariance, 0)

    def orientation_variance(self) -> list[builtins.float]:
        """[var_roll, var_pitch, var_yaw]."""
        return diagonal(self.covariance, 3)


class TwistWithCovarianceMethods:
    __slots__ = ()
    covariance: list[builtins.float]

    def linear_variance(self) -> list[builtins.float]:
        return diagonal(self.covariance, 0)

    def angular_variance(self) -> list[builtins.float]:
        return diagonal(self.covariance, 3)


# ---- Sensors ------------------------------------------------------------------------------------


class ImuMethods(FiniteMethods):
    """Upstream's set_orientation_from_euler and has_orientation need an orientation, which this
    layout does not carry (accelerations and rates only)."""

    __slots__ = ()
    accel_x: builtins.float
    accel_y: builtins.float
    accel_z: builtins.float
    gyro_x: builtins.float
    gyro_y: builtins.float
    gyro_z: builtins.float

    def angular_velocity_vec(self) -> Vector3:
        from .messages import Vector3

        return Vector3(self.gyro_x, self.gyro_y, self.gyro_z)

    def linear_acceleration_vec(self) -> Vector3:
        from .messages import Vector3

        return Vector3(self.accel_x, self.accel_y, self.accel_z)


class OdometryMethods(FiniteMethods):
    """Upstream's set_frames needs frame names, which this layout does not carry."""

    __slots__ = ()

    def update(self, pose: Pose2D, twist: Twist) -> None:
        """Take a new pose and velocity (forward linear_x, turn angular_z), stamped now."""
        from .clock import timestamp_ns

        assign(self, x=pose.x, y=pose.y, theta=pose.theta, timestamp_ns=timestamp_ns())
        assign(self, linear_velocity=twist.linear_x, angular_velocity=twist.angular_z)


class LaserScanMethods:
    __slots__ = ()
    angle_min: builtins.float
    angle_increment: builtins.float
    range_min: builtins.float
    range_max: builtins.float
    ranges: list[builtins.float]

    def angle_at(self, index: builtins.int) -> builtins.float:
        """The beam's angle (rad); 0.0 past the last beam, as upstream."""
        if not 0 <= index < len(self.ranges):
            return 0.0
        return self.angle_min + index * self.angle_increment

    def is_range_valid(self, index: builtins.int) -> bool:
        """Whether beam `index` read a finite range within [range_min, range_max]."""
        return 0 <= index < len(self.ranges) and self._in_range(self.ranges[index])

    def min_range(self) -> builtins.float | None:
        """The nearest valid reading (m), None if no beam has one."""
        return min(filter(self._in_range, self.ranges), default=None)

    def _in_range(self, value: builtins.float) -> bool:
        return math.isfinite(value) and self.range_min <= value <= self.range_max


class RangeSensorMethods:
    __slots__ = ()
    range: builtins.float
    min_range: builtins.float
    max_range: builtins.float

    def is_valid(self) -> bool:
        """A finite reading within [min_range, max_range]."""
        return math.isfinite(self.range) and self.min_range <= self.range <= self.max_range


class BatteryStateMethods:
    """Upstream's time_remaining() needs the charge (Ah), which this layout does not carry."""

    __slots__ = ()
    percentage: builtins.float
    CRITICAL_PERCENT: ClassVar[builtins.float] = 10.0  # upstream's fixed threshold

    def is_low(self, threshold: builtins.float) -> bool:
        """Charge below `threshold` percent."""
        return self.percentage < threshold

    def is_critical(self) -> bool:
        """Charge below 10 percent."""
        return self.percentage < self.CRITICAL_PERCENT


EARTH_RADIUS_M = 6371000.0


class NavSatFixMethods:
    __slots__ = ()
    latitude: builtins.float
    longitude: builtins.float
    altitude: builtins.float
    status: builtins.int
    hdop: builtins.float
    STATUS_NO_FIX: ClassVar[builtins.int] = 0
    STATUS_FIX: ClassVar[builtins.int] = 1
    HDOP_TO_METRES: ClassVar[builtins.float] = 5.0  # upstream's rough accuracy per unit of HDOP

    @classmethod
    def from_coordinates(cls, lat: builtins.float, lon: builtins.float, alt: builtins.float) -> Any:
        """A fix (status 1) at latitude, longitude (degrees) and altitude (m)."""
        return stamped(cls, latitude=lat, longitude=lon, altitude=alt, status=cls.STATUS_FIX)

    def has_fix(self) -> bool:
        return self.status >= self.STATUS_FIX

    def is_valid(self) -> bool:
        """Finite coordinates, latitude within +-90 and longitude within +-180 degrees."""
        finite = all(map(math.isfinite, (self.latitude, self.longitude, self.altitude)))
        return finite and abs(self.latitude) <= 90.0 and abs(self.longitude) <= 180.0

    def horizontal_accuracy(self) -> builtins.float:
        """Approximate horizontal accuracy (m) from the HDOP."""
        return self.hdop * self.HDOP_TO_METRES

    def distance_to(self, other: NavSatFixMethods) -> builtins.float:
        """Great-circle (haversine) distance in metres on a spherical Earth."""
        lat1, lat2 = math.radians(self.latitude), math.radians(other.latitude)
        dlat = lat2 - lat1
        dlon = math.radians(other.longitude - self.longitude)
        a = math.sin(dlat / 2.0) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2.0) ** 2
        return EARTH_RADIUS_M * 2.0 * math.atan2(math.sqrt(a), math.sqrt(1.0 - a))


class JointStateMethods:
    __slots__ = ()
    names: list[str]
    positions: list[builtins.float]
    velocities: list[builtins.float]
    efforts: list[builtins.float]

    def position(self, name: str) -> builtins.float | None:
        """Joint `name`'s position, None if there is no such joint."""
        return self._of(self.positions, name)

    def velocity(self, name: str) -> builtins.float | None:
        return self._of(self.velocities, name)

    def effort(self, name: str) -> builtins.float | None:
        return self._of(self.efforts, name)

    def _of(self, values: list[builtins.float], name: str) -> builtins.float | None:
        at = self.names.index(name) if name in self.names else len(values)
        return values[at] if at < len(values) else None


# ---- Time and diagnostics -----------------------------------------------------------------------


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
        from .clock import timestamp_ns

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


# ---- Control ------------------------------------------------------------------------------------


class MotorCommandMethods(FiniteMethods):
    """Modes as upstream's: 0 velocity, 1 position, 2 torque, 3 voltage. is_valid() wants every
    value finite, so a command without limits (inf, the default) is not valid, as upstream's."""

    __slots__ = ()
    MODE_VELOCITY: ClassVar[builtins.int] = 0
    MODE_POSITION: ClassVar[builtins.int] = 1

    @classmethod
    def velocity(cls, motor_id: builtins.int, velocity: builtins.float) -> Any:
        return stamped(cls, motor_id=motor_id, mode=cls.MODE_VELOCITY, target=velocity)

    @classmethod
    def position(cls, motor_id: builtins.int, position: builtins.float, max_velocity: builtins.float) -> Any:
        return stamped(cls, motor_id=motor_id, mode=cls.MODE_POSITION, target=position, max_velocity=max_velocity)

    @classmethod
    def stop(cls, motor_id: builtins.int) -> Any:
        """Velocity 0 with the motor disabled."""
        return stamped(cls, motor_id=motor_id, mode=cls.MODE_VELOCITY, target=0.0, enable=False)


class ServoCommandMethods:
    __slots__ = ()
    position: builtins.float
    speed: builtins.float

    @classmethod
    def with_speed(cls, servo_id: builtins.int, position: builtins.float, speed: builtins.float) -> Any:
        """A command to `position` (rad) at `speed`, clamped to 0..1 of the servo's maximum."""
        return stamped(cls, servo_id=servo_id, position=position, speed=min(max(speed, 0.0), 1.0))

    @classmethod
    def disable(cls, servo_id: builtins.int) -> Any:
        """Torque off."""
        return stamped(cls, servo_id=servo_id, position=0.0, speed=0.0, enable=False)

    @classmethod
    def from_degrees(cls, servo_id: builtins.int, degrees: builtins.float) -> Any:
        return stamped(cls, servo_id=servo_id, position=math.radians(degrees))

    def is_valid(self) -> bool:
        """A finite position and a speed within 0..1."""
        return math.isfinite(self.position) and 0.0 <= self.speed <= 1.0


class DifferentialDriveCommandMethods:
    __slots__ = ()
    left_velocity: builtins.float
    right_velocity: builtins.float
    max_acceleration: builtins.float

    @classmethod
    def stop(cls) -> Any:
        """Both wheels 0, motors disabled."""
        return stamped(cls, left_velocity=0.0, right_velocity=0.0, enable=False)

    @classmethod
    def from_twist(
        cls,
        linear: builtins.float,
        angular: builtins.float,
        wheel_base: builtins.float,
        wheel_radius: builtins.float,
    ) -> Any:
        """Wheel speeds (rad/s) for forward `linear` (m/s) and turn `angular` (rad/s), wheels
        `wheel_base` (m) apart with radius `wheel_radius` (m)."""
        if wheel_radius <= 0.0:
            raise ValueError(f"DifferentialDriveCommand.from_twist: wheel_radius must be > 0 m, got {wheel_radius}")
        turn = angular * wheel_base / 2.0
        return stamped(cls, left_velocity=(linear - turn) / wheel_radius, right_velocity=(linear + turn) / wheel_radius)

    def is_valid(self) -> bool:
        """Finite wheel speeds; the acceleration limit may be infinite (no limit), not NaN."""
        return math.isfinite(self.left_velocity + self.right_velocity) and not math.isnan(self.max_acceleration)


class PidConfigMethods:
    __slots__ = ()
    kp: builtins.float
    ki: builtins.float
    kd: builtins.float
    integral_limit: builtins.float
    output_limit: builtins.float

    @classmethod
    def proportional(cls, kp: builtins.float) -> Any:
        return stamped(cls, kp=kp, ki=0.0, kd=0.0)

    @classmethod
    def pi(cls, kp: builtins.float, ki: builtins.float) -> Any:
        return stamped(cls, kp=kp, ki=ki, kd=0.0)

    @classmethod
    def pd(cls, kp: builtins.float, kd: builtins.float) -> Any:
        return stamped(cls, kp=kp, ki=0.0, kd=kd)

    def with_limits(self, integral_limit: builtins.float, output_limit: builtins.float) -> Any:
        """A copy with these integral and output limits."""
        config = copy_of(self)
        config.integral_limit, config.output_limit = integral_limit, output_limit
        return config

    def is_valid(self) -> bool:
        """Finite gains and limits (so the default, unlimited, is not valid: as upstream's), no
        gain negative."""
        values = (self.kp, self.ki, self.kd, self.integral_limit, self.output_limit)
        return all(map(math.isfinite, values)) and min(self.kp, self.ki, self.kd) >= 0.0


class TrajectoryPointMethods:
    __slots__ = ()
    IDENTITY: ClassVar[list[builtins.float]] = [0.0, 0.0, 0.0, 1.0]

    @classmethod
    def new_2d(
        cls, x: builtins.float, y: builtins.float, vx: builtins.float, vy: builtins.float, time: builtins.float
    ) -> Any:
        """A point in the plane (z 0) with its velocity, `time` s from the start."""
        return cast(Any, cls)(
            position=[x, y, 0.0], velocity=[vx, vy, 0.0], orientation=cls.IDENTITY, time_from_start=time
        )

    @classmethod
    def stationary(cls, x: builtins.float, y: builtins.float, z: builtins.float) -> Any:
        """A point at rest, at the start."""
        return cast(Any, cls)(position=[x, y, z], orientation=cls.IDENTITY)


# ---- Force --------------------------------------------------------------------------------------


FORCE = ("fx", "fy", "fz")
TORQUE = ("tx", "ty", "tz")


def set_vector(msg: Any, names: tuple[str, ...], vector: Vector3) -> None:
    for name, value in zip(names, (vector.x, vector.y, vector.z), strict=True):
        setattr(msg, name, value)


class WrenchStampedMethods:
    __slots__ = ()

    @classmethod
    def force_only(cls, force: Vector3) -> Any:
        wrench = stamped(cls)
        set_vector(wrench, FORCE, force)
        return wrench

    @classmethod
    def torque_only(cls, torque: Vector3) -> Any:
        wrench = stamped(cls)
        set_vector(wrench, TORQUE, torque)
        return wrench

    def force_magnitude(self) -> builtins.float:
        return norm(getattr(self, n) for n in FORCE)

    def torque_magnitude(self) -> builtins.float:
        return norm(getattr(self, n) for n in TORQUE)

    def exceeds_limits(self, max_force: builtins.float, max_torque: builtins.float) -> bool:
        """Whether the force (N) or the torque (N m) is above its limit."""
        return self.force_magnitude() > max_force or self.torque_magnitude() > max_torque

    def filter(self, prev: WrenchStampedMethods, alpha: builtins.float) -> None:
        """Low-pass in place: alpha of this reading plus 1 - alpha of `prev` (alpha clamped to 0..1)."""
        alpha = min(max(alpha, 0.0), 1.0)
        for name in FORCE + TORQUE:
            setattr(self, name, alpha * getattr(self, name) + (1.0 - alpha) * getattr(prev, name))


class RenamedFieldMethods:
    """Upstream's attribute names for fields this layout names otherwise (RENAMED: upstream -> ours)."""

    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {}

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the field itself is found first.
        if name in self.RENAMED:
            return getattr(self, self.RENAMED[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(self.RENAMED.get(name, name), value)


class NavGoalMethods(RenamedFieldMethods):
    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {"timeout_seconds": "timeout"}


class ForceCommandMethods(RenamedFieldMethods):
    """Upstream's surface_contact also picks force-controlled axes; this layout has the target
    force only, so that choice is not kept."""

    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {"timeout_seconds": "timeout"}

    @classmethod
    def force_only(cls, target: Vector3) -> Any:
        command = stamped(cls)
        set_vector(command, FORCE, target)
        return command

    @classmethod
    def surface_contact(cls, normal_force: builtins.float, normal: Vector3) -> Any:
        """Press with `normal_force` (N) along the surface normal (any length)."""
        unit = copy_of(normal)
        unit.normalize()
        command = stamped(cls)
        set_vector(command, FORCE, cast(Any, type(normal))(*(normal_force * v for v in (unit.x, unit.y, unit.z))))
        return command

    def with_timeout(self, timeout_seconds: builtins.float) -> Any:
        """A copy that holds for at most `timeout_seconds` (0: no limit)."""
        command = copy_of(self)
        command.timeout = timeout_seconds
        return command


class LandmarkMethods:
    """2D keypoints (the message and horus.perception's)."""

    __slots__ = ()
    x: builtins.float
    y: builtins.float
    visibility: builtins.float

    def is_visible(self, threshold: builtins.float) -> bool:
        """Visibility at least `threshold`."""
        return self.visibility >= threshold

    def distance_to(self, other: LandmarkMethods) -> builtins.float:
        """Distance in the image (px)."""
        return math.hypot(self.x - other.x, self.y - other.y)
