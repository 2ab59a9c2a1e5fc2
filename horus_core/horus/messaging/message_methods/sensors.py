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

    distortion: list[float]

    # Upstream's matrices (row-major), made from this layout's pinhole model: no rectification, and
    # the projection of a monocular camera (no baseline).
    @property
    def camera_matrix(self) -> list[float]:
        """K, 3x3: [fx, 0, cx, 0, fy, cy, 0, 0, 1]."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    @property
    def distortion_coefficients(self) -> list[float]:
        return list(self.distortion)

    @property
    def rectification_matrix(self) -> list[float]:
        """R, 3x3: the identity (a monocular camera is not rectified)."""
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]

    @property
    def projection_matrix(self) -> list[float]:
        """P, 3x4: K with a zero fourth column."""
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

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
        from ...runtime.clock import timestamp_ns

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

    def __len__(self) -> builtins.int:
        """Beams with a valid range (within range_min..range_max), as upstream's len()."""
        return sum(1 for value in self.ranges if self._in_range(value))

    def __bool__(self) -> bool:
        # A scan is a message, however many of its beams are valid: `if scan:` after a recv means "one came".
        return True

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


class PointFieldMethods:
    """datatype as this message documents it: 1 i8, 2 u8, 3 i16, 4 u16, 5 i32, 6 u32, 7 f32, 8 f64."""

    __slots__ = ()
    datatype: builtins.int
    count: builtins.int
    SIZES: ClassVar[dict[builtins.int, builtins.int]] = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 8}

    def field_size(self) -> builtins.int:
        """Bytes the field takes in a point (its type's size times count; 0 for an unknown type)."""
        return self.SIZES.get(self.datatype, 0) * self.count


class ContactInfoMethods:
    """state as this message documents it: 0 none, 1 initial, 2 stable, 3 lost, 4 sliding, 5 impact."""

    __slots__ = ()
    state: builtins.int
    IN_CONTACT: ClassVar[frozenset[builtins.int]] = frozenset({1, 2, 4, 5})

    def is_in_contact(self) -> bool:
        return self.state in self.IN_CONTACT
