"""Upstream's methods of the geometry messages: velocities, points, vectors, rotations, poses."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from ..messages import Pose2D, Vector3
from .common import FiniteMethods, assign, float_values, norm, scale_fields, stamped, yaw_quaternion


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
