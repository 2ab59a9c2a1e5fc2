"""horus.Transform: a rigid transform (translation + unit quaternion [x, y, z, w]), as upstream HORUS's.

``a.compose(b)`` is a * b (apply b, then a); ``transform_point(p)`` maps a point of the child
frame into the parent frame. Pure Python on purpose: a transform is 7 floats, and the frame
tree's lookups are a handful of these per call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vec3 = list[float]
Quat = list[float]


def _normalized(q: Sequence[float]) -> Quat:
    if len(q) != 4:
        raise ValueError(f"a rotation is a quaternion [x, y, z, w], got {len(q)} numbers")
    norm = math.sqrt(sum(c * c for c in q))
    if not math.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"rotation {list(q)} is not a valid quaternion (zero, NaN or infinite)")
    return [float(c) / norm for c in q]


def _vec3(v: Sequence[float], what: str) -> Vec3:
    if len(v) != 3 or not all(math.isfinite(c) for c in v):
        raise ValueError(f"{what} must be 3 finite numbers [x, y, z], got {list(v)}")
    return [float(c) for c in v]


def _qmul(a: Quat, b: Quat) -> Quat:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return [
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ]


def _rotate(q: Quat, v: Vec3) -> Vec3:
    x, y, z, _ = _qmul(_qmul(q, [v[0], v[1], v[2], 0.0]), [-q[0], -q[1], -q[2], q[3]])
    return [x, y, z]


class Transform:
    """Translation [x, y, z] (metres) and rotation [x, y, z, w] (kept normalised)."""

    __slots__ = ("_rotation", "_translation")

    def __init__(self, translation: Sequence[float] | None = None, rotation: Sequence[float] | None = None) -> None:
        self._translation = _vec3(translation if translation is not None else (0.0, 0.0, 0.0), "translation")
        self._rotation = _normalized(rotation if rotation is not None else (0.0, 0.0, 0.0, 1.0))

    @staticmethod
    def identity() -> Transform:
        return Transform()

    @staticmethod
    def from_translation(translation: Sequence[float]) -> Transform:
        return Transform(translation)

    @staticmethod
    def from_euler(translation: Sequence[float], rpy: Sequence[float]) -> Transform:
        """Roll, pitch, yaw in radians (applied yaw, then pitch, then roll: the usual ZYX)."""
        roll, pitch, yaw = (c / 2 for c in _vec3(rpy, "rpy"))
        cr, sr, cp, sp, cy, sy = (
            math.cos(roll),
            math.sin(roll),
            math.cos(pitch),
            math.sin(pitch),
            math.cos(yaw),
            math.sin(yaw),
        )
        q = [
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ]
        return Transform(translation, q)

    @staticmethod
    def from_matrix(matrix: Sequence[Sequence[float]]) -> Transform:
        """From a 4x4 homogeneous matrix (row-major)."""
        m = [list(map(float, row)) for row in matrix]
        if len(m) != 4 or any(len(row) != 4 for row in m):
            raise ValueError("from_matrix needs a 4x4 homogeneous matrix")
        trace = m[0][0] + m[1][1] + m[2][2]
        if trace > 0:
            s = math.sqrt(trace + 1.0) * 2
            q = [(m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s, s / 4]
        else:  # the largest diagonal element keeps the division well-conditioned
            i = max(range(3), key=lambda k: m[k][k])
            j, k = (i + 1) % 3, (i + 2) % 3
            s = math.sqrt(1.0 + m[i][i] - m[j][j] - m[k][k]) * 2
            q = [0.0, 0.0, 0.0, (m[k][j] - m[j][k]) / s]
            q[i], q[j], q[k] = s / 4, (m[j][i] + m[i][j]) / s, (m[k][i] + m[i][k]) / s
        return Transform([m[0][3], m[1][3], m[2][3]], q)

    @property
    def translation(self) -> Vec3:
        return list(self._translation)

    @translation.setter
    def translation(self, value: Sequence[float]) -> None:
        self._translation = _vec3(value, "translation")

    @property
    def rotation(self) -> Quat:
        return list(self._rotation)

    @rotation.setter
    def rotation(self, value: Sequence[float]) -> None:
        self._rotation = _normalized(value)

    def to_euler(self) -> Vec3:
        x, y, z, w = self._rotation
        roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
        yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        return [roll, pitch, yaw]

    def compose(self, other: Transform) -> Transform:
        """self * other: a point goes through `other` first, then `self`."""
        moved = _rotate(self._rotation, other._translation)
        return Transform(
            [a + b for a, b in zip(self._translation, moved, strict=True)], _qmul(self._rotation, other._rotation)
        )

    def inverse(self) -> Transform:
        conj = [-self._rotation[0], -self._rotation[1], -self._rotation[2], self._rotation[3]]
        return Transform([-c for c in _rotate(conj, self._translation)], conj)

    def transform_point(self, point: Sequence[float]) -> Vec3:
        rotated = _rotate(self._rotation, _vec3(point, "point"))
        return [a + b for a, b in zip(rotated, self._translation, strict=True)]

    def transform_vector(self, vector: Sequence[float]) -> Vec3:
        return _rotate(self._rotation, _vec3(vector, "vector"))

    def interpolate(self, other: Transform, t: float) -> Transform:
        """Linear in translation, spherical (slerp) in rotation; t=0 is self, t=1 is other."""
        translation = [a + (b - a) * t for a, b in zip(self._translation, other._translation, strict=True)]
        q0, q1 = self._rotation, other._rotation
        dot = sum(a * b for a, b in zip(q0, q1, strict=True))
        if dot < 0:  # the shorter way round
            q1, dot = [-c for c in q1], -dot
        if dot > 0.9995:  # nearly equal: slerp's division is ill-conditioned, lerp is exact enough
            q = [a + (b - a) * t for a, b in zip(q0, q1, strict=True)]
        else:
            theta = math.acos(dot)
            w0, w1 = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
            q = [w0 * a + w1 * b for a, b in zip(q0, q1, strict=True)]
        return Transform(translation, q)

    def translation_magnitude(self) -> float:
        return math.sqrt(sum(c * c for c in self._translation))

    def rotation_angle(self) -> float:
        return 2 * math.acos(min(1.0, abs(self._rotation[3])))

    def to_matrix(self) -> list[list[float]]:
        x, y, z, w = self._rotation
        tx, ty, tz = self._translation
        return [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w), tx],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w), ty],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y), tz],
            [0.0, 0.0, 0.0, 1.0],
        ]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Transform)
            and self._translation == other._translation
            and self._rotation == other._rotation
        )

    def __repr__(self) -> str:
        t = ", ".join(f"{c:g}" for c in self._translation)
        r = ", ".join(f"{c:g}" for c in self._rotation)
        return f"Transform(translation=[{t}], rotation=[{r}])"
