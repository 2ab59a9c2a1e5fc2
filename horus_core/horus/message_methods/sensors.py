"""Upstream's methods of the sensor messages: IMU, odometry, lidar, range, battery, GNSS, joints, cameras."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from ..messages import CameraInfo, Pose2D, Twist, Vector3
from .common import FiniteMethods, assign, stamped


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
        from ..messages import Vector3

        return Vector3(self.gyro_x, self.gyro_y, self.gyro_z)

    def linear_acceleration_vec(self) -> Vector3:
        from ..messages import Vector3

        return Vector3(self.accel_x, self.accel_y, self.accel_z)


class OdometryMethods(FiniteMethods):
    """Upstream's set_frames needs frame names, which this layout does not carry."""

    __slots__ = ()

    def update(self, pose: Pose2D, twist: Twist) -> None:
        """Take a new pose and velocity (forward linear_x, turn angular_z), stamped now."""
        from ..clock import timestamp_ns

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
