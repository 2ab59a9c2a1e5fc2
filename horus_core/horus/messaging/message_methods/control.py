"""Upstream's methods of the actuator commands: joints, motors, servos, drives, PID, trajectories, force."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from ..messages import Vector3
from .common import FiniteMethods, RenamedFieldMethods, copy_of, norm, stamped

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


class ImpedanceParametersMethods:
    """Upstream's presets (our values): a soft axis that yields to contact, and a stiff one that holds."""

    __slots__ = ()

    @classmethod
    def compliant(cls) -> Any:
        return cast(Any, cls)(stiffness=[100.0] * 6, damping=[20.0] * 6, enabled=True)

    @classmethod
    def stiff(cls) -> Any:
        return cast(Any, cls)(stiffness=[10000.0] * 6, damping=[200.0] * 6, enabled=True)

    def enable(self) -> None:
        cast(Any, self).enabled = True

    def disable(self) -> None:
        cast(Any, self).enabled = False


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


class HapticFeedbackMethods:
    """pattern_type as upstream's: 0 constant, 1 pulse, 2 ramp."""

    __slots__ = ()
    CONSTANT: ClassVar[builtins.int] = 0
    PULSE: ClassVar[builtins.int] = 1

    @classmethod
    def vibration(cls, intensity: builtins.float, frequency: builtins.float, duration: builtins.float) -> Any:
        """A steady vibration: intensity 0-1, frequency (Hz), duration (s)."""
        return stamped(cls, **_vibration(intensity, frequency, duration), pattern_type=cls.CONSTANT)

    @classmethod
    def pulse(cls, intensity: builtins.float, frequency: builtins.float, duration: builtins.float) -> Any:
        """A pulsed vibration: intensity 0-1, pulses per second (Hz), duration (s)."""
        return stamped(cls, **_vibration(intensity, frequency, duration), pattern_type=cls.PULSE)


def _vibration(intensity: builtins.float, frequency: builtins.float, duration: builtins.float) -> dict[str, Any]:
    return {
        "vibration_intensity": min(max(intensity, 0.0), 1.0),  # upstream clamps it to 0-1
        "vibration_frequency": frequency,
        "duration_seconds": duration,
        "enabled": True,
    }
