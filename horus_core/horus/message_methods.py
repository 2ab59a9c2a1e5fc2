"""Upstream HORUS's convenience methods of some messages, as mixins of the generated classes.

messages.toml says which message takes which mixin (`methods = "...Methods"`); the fields stay
the schema's, and these only read or append to them. Each mixin names the fields it uses.
"""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .messages import BoundingBox2D, BoundingBox3D, Pose2D

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
