"""Upstream HORUS's convenience methods of some messages, as mixins of the generated classes.

messages.toml says which message takes which mixin (`methods = "...Methods"`); the fields stay
the schema's, and these only read or append to them. Each mixin names the fields it uses.
"""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from .frames import OccupancyGrid
    from .message import Message
    from .messages import BoundingBox2D, BoundingBox3D, CameraInfo, Pose2D

MAX_JOINTS = 16


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


class DetectionMethods:
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


class TrackedObjectMethods:
    """Upstream's constructor takes the box as x, y, width, height; bbox= takes a BoundingBox2D.
    States as upstream's tracker: 0 tentative, 1 confirmed, 2 deleted."""

    __slots__ = ()
    velocity_x: builtins.float
    velocity_y: builtins.float
    state: builtins.int

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
