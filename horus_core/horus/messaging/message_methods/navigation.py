"""Upstream's methods of the navigation messages: goals, waypoints, paths, obstacles, planes, cost maps."""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from ..frames import OccupancyGrid
    from ..messages import Pose2D
from .common import MessageListMethods, RenamedFieldMethods, assign, copies, copy_of


class WaypointMethods:
    __slots__ = ()
    x: float
    y: float
    theta: float

    @property
    def pose(self) -> Pose2D:
        """The waypoint's pose as a Pose2D (a copy)."""
        from ..messages import Pose2D

        return Pose2D(self.x, self.y, self.theta)

    def with_stop(self) -> Any:
        """A copy that requires the robot to stop there."""
        waypoint = copy_of(self)
        waypoint.stop_required = True
        return waypoint


class PathPlanMethods:
    __slots__ = ()
    waypoint_data: list[float]
    goal_x: builtins.float
    goal_y: builtins.float
    goal_theta: builtins.float
    MAX_WAYPOINTS: ClassVar[builtins.int] = 256  # waypoint_data holds 768 numbers

    @property
    def waypoint_count(self) -> int:
        """Waypoints in waypoint_data (x, y, theta each)."""
        return len(self.waypoint_data) // 3

    @classmethod
    def from_waypoints(
        cls,
        waypoints: Iterable[Sequence[builtins.float]],
        goal_x: builtins.float = 0.0,
        goal_y: builtins.float = 0.0,
        goal_theta: builtins.float = 0.0,
    ) -> Any:
        """A plan of (x, y, theta) waypoints (the first MAX_WAYPOINTS, as upstream) toward the goal."""
        flat = [builtins.float(v) for point in list(waypoints)[: cls.MAX_WAYPOINTS] for v in point[:3]]
        return cast(Any, cls)(goal_x=goal_x, goal_y=goal_y, goal_theta=goal_theta, waypoint_data=flat)

    def add_waypoint(self, x: builtins.float, y: builtins.float, theta: builtins.float) -> bool:
        """Append a waypoint; False, unchanged, when the plan already holds MAX_WAYPOINTS."""
        if self.waypoint_count >= self.MAX_WAYPOINTS:
            return False
        assign(self, waypoint_data=[*self.waypoint_data, x, y, theta])
        return True

    def waypoint(self, index: builtins.int) -> tuple[builtins.float, builtins.float, builtins.float] | None:
        """Waypoint `index` as (x, y, theta), or None past the last."""
        if not 0 <= index < self.waypoint_count:
            return None
        x, y, theta = self.waypoint_data[3 * index : 3 * index + 3]
        return (x, y, theta)

    @property
    def goal_pose(self) -> tuple[builtins.float, builtins.float, builtins.float]:
        return (self.goal_x, self.goal_y, self.goal_theta)

    def is_empty(self) -> bool:
        return self.waypoint_count == 0


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


class NavPathMethods(MessageListMethods):
    __slots__ = ()
    LIST = "waypoints"
    waypoint_count = property(MessageListMethods._count)

    def add_waypoint(self, wp: Any) -> None:  # upstream's name for its argument
        self._add(wp)

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

    def add_obstacle(self, obs: Any) -> None:  # upstream's name for its argument
        self._add(obs)

    get_obstacles = MessageListMethods._get


class PlaneArrayMethods(MessageListMethods):
    __slots__ = ()
    LIST = "planes"
    FULL = ValueError  # upstream's, unlike the other lists
    count = property(MessageListMethods._count)

    def add_plane(self, plane: Any) -> None:  # upstream's name for its argument
        self._add(plane)

    def __getitem__(self, index: builtins.int) -> Any:
        """A copy of plane `index`; IndexError past the last, as a list."""
        return copies([getattr(self, self.LIST)[index]])[0]


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

        from ..frames import OccupancyGrid

        grid = OccupancyGrid(self.width, self.height, self.resolution)
        grid.origin = (self.origin_x, self.origin_y, self.origin_theta)
        grid.to_numpy()[:] = np.array(self.data, dtype=np.int8).reshape(self.height, self.width)
        return grid

    def compute_costs(self) -> None:
        """Each cell's cost from the grid: lethal where occupied (>= 50), 255 unknown, else the
        highest of lethal - 1 scaled by exp(-cost_scaling_factor * distance) over occupied cells
        within inflation_radius, 0 beyond."""
        from ..frames import OccupancyGrid

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


class NavGoalMethods(RenamedFieldMethods):
    __slots__ = ()
    RENAMED: ClassVar[dict[str, str]] = {
        "timeout_seconds": "timeout",
        "tolerance_position": "position_tolerance",
        "tolerance_angle": "angle_tolerance",
    }
    x: builtins.float
    y: builtins.float
    theta: builtins.float
    position_tolerance: builtins.float
    angle_tolerance: builtins.float

    def with_timeout(self, timeout_seconds: builtins.float) -> Any:
        """A copy with this timeout (s)."""
        goal = copy_of(self)
        goal.timeout = timeout_seconds
        return goal

    def with_priority(self, priority: builtins.int) -> Any:
        """A copy with this priority (0 is the highest, as upstream)."""
        goal = copy_of(self)
        goal.priority = priority
        return goal

    def is_position_reached(self, current: Pose2D) -> bool:
        """`current` within position_tolerance (m) of the goal."""
        return math.hypot(current.x - self.x, current.y - self.y) <= self.position_tolerance

    def is_orientation_reached(self, current: Pose2D) -> bool:
        """`current`'s heading within angle_tolerance (rad) of the goal's, the short way round."""
        error = math.remainder(current.theta - self.theta, math.tau)
        return abs(error) <= self.angle_tolerance

    def is_reached(self, current: Pose2D) -> bool:
        return self.is_position_reached(current) and self.is_orientation_reached(current)
