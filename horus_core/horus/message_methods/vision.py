"""Upstream's methods of the perception messages: detections, boxes, regions, landmarks, tracks."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..messages import BoundingBox2D, BoundingBox3D
from .common import AreaMethods, Box, BoxMethods, assign


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
        from ..messages import BoundingBox2D

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
        from ..messages import BoundingBox3D

        return BoundingBox3D(self.cx, self.cy, self.cz, self.length, self.width, self.height, self.yaw)


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
        from ..messages import BoundingBox2D

        fields.setdefault("bbox", BoundingBox2D(x, y, width, height))
        # The message's own __init__, next in the MRO (this mixin comes before Message).
        cast(Any, super()).__init__(track_id=track_id, class_id=class_id, confidence=confidence, **fields)


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
