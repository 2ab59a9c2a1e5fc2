"""Upstream's methods of the perception messages: detections, boxes, regions, landmarks, tracks."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, ClassVar, cast

if TYPE_CHECKING:
    from ..messages import BoundingBox2D, BoundingBox3D, Point3, Vector3
from .common import AreaMethods, Box, BoxMethods, assign, copy_of


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

    def with_class_id(self, class_id: builtins.int) -> Any:
        """A copy with this class id."""
        detection = copy_of(self)
        detection.class_id = class_id
        return detection


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

    def with_velocity(self, vx: builtins.float, vy: builtins.float, vz: builtins.float) -> Any:
        """A copy moving at (vx, vy, vz) m/s."""
        detection = copy_of(self)
        assign(detection, velocity_x=vx, velocity_y=vy, velocity_z=vz)
        return detection


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
    num_landmarks: builtins.int
    dimension: builtins.int

    def data_size(self) -> builtins.int:
        """Bytes of the landmarks that follow this header: num_landmarks Landmark (2D) or
        Landmark3D (dimension 3) messages."""
        from ..messages import Landmark, Landmark3D

        return self.num_landmarks * (Landmark3D.SIZE if self.dimension == 3 else Landmark.SIZE)

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

    @classmethod
    def visible(cls, x: builtins.float, y: builtins.float, index: builtins.int) -> Any:
        """A fully visible keypoint."""
        return cast(Any, cls)(x, y, 1.0, index)

    def is_visible(self, threshold: builtins.float) -> bool:
        """Visibility at least `threshold`."""
        return self.visibility >= threshold

    def distance_to(self, other: LandmarkMethods) -> builtins.float:
        """Distance in the image (px)."""
        return math.hypot(self.x - other.x, self.y - other.y)


class Landmark3DMethods:
    __slots__ = ()
    x: builtins.float
    y: builtins.float
    z: builtins.float
    visibility: builtins.float
    index: builtins.int

    @classmethod
    def visible(cls, x: builtins.float, y: builtins.float, z: builtins.float, index: builtins.int) -> Any:
        """A fully visible keypoint."""
        return cast(Any, cls)(x, y, z, 1.0, index)

    def is_visible(self, threshold: builtins.float) -> bool:
        """Visibility at least `threshold`."""
        return self.visibility >= threshold

    def distance_to(self, other: Landmark3DMethods) -> builtins.float:
        """Distance in space (m)."""
        return math.dist((self.x, self.y, self.z), (other.x, other.y, other.z))

    def to_2d(self) -> Any:
        """The keypoint projected on x, y, as a horus.Landmark (visibility and index kept)."""
        from ..messages import Landmark

        return Landmark(self.x, self.y, self.visibility, self.index)


class SegmentationMaskMethods:
    """mask_type as upstream's: 0 semantic (a class per pixel), 1 instance, 2 panoptic (both)."""

    __slots__ = ()
    width: builtins.int
    height: builtins.int
    mask_type: builtins.int
    SEMANTIC: ClassVar[builtins.int] = 0
    INSTANCE: ClassVar[builtins.int] = 1
    PANOPTIC: ClassVar[builtins.int] = 2

    @classmethod
    def semantic(cls, width: builtins.int, height: builtins.int, num_classes: builtins.int) -> Any:
        return cast(Any, cls)(width=width, height=height, mask_type=cls.SEMANTIC, num_classes=num_classes)

    @classmethod
    def instance(cls, width: builtins.int, height: builtins.int) -> Any:
        return cast(Any, cls)(width=width, height=height, mask_type=cls.INSTANCE)

    @classmethod
    def panoptic(cls, width: builtins.int, height: builtins.int, num_classes: builtins.int) -> Any:
        return cast(Any, cls)(width=width, height=height, mask_type=cls.PANOPTIC, num_classes=num_classes)

    def is_semantic(self) -> bool:
        return self.mask_type == self.SEMANTIC

    def is_instance(self) -> bool:
        return self.mask_type == self.INSTANCE

    def is_panoptic(self) -> bool:
        return self.mask_type == self.PANOPTIC

    def data_size(self) -> builtins.int:
        """Bytes of the mask's pixels at one byte each (u8 labels)."""
        return self.width * self.height

    def data_size_u16(self) -> builtins.int:
        """Bytes of the mask's pixels at two bytes each (u16 labels, over 255 classes or instances)."""
        return self.width * self.height * 2


class PlaneDetectionMethods:
    """The plane ax + by + cz + d = 0 as upstream reads it."""

    __slots__ = ()
    a: builtins.float
    b: builtins.float
    c: builtins.float
    d: builtins.float
    cx: builtins.float
    cy: builtins.float
    cz: builtins.float
    nx: builtins.float
    ny: builtins.float
    nz: builtins.float

    @property
    def coefficients(self) -> tuple[builtins.float, builtins.float, builtins.float, builtins.float]:
        return (self.a, self.b, self.c, self.d)

    @property
    def center(self) -> Point3:
        from ..messages import Point3

        return Point3(self.cx, self.cy, self.cz)

    @property
    def normal(self) -> Vector3:
        from ..messages import Vector3

        return Vector3(self.nx, self.ny, self.nz)

    def distance_to_point(self, px: builtins.float, py: builtins.float, pz: builtins.float) -> builtins.float:
        """Distance (m) from the point to the plane; inf for a plane with no normal (a = b = c = 0)."""
        scale = math.sqrt(self.a**2 + self.b**2 + self.c**2)
        if scale == 0.0:
            return math.inf
        return abs(self.a * px + self.b * py + self.c * pz + self.d) / scale

    def contains_point(
        self, px: builtins.float, py: builtins.float, pz: builtins.float, tolerance: builtins.float
    ) -> bool:
        return self.distance_to_point(px, py, pz) <= tolerance


class BoundingBox3DMethods:
    __slots__ = ()
    length: builtins.float
    width: builtins.float
    height: builtins.float

    @property
    def volume(self) -> builtins.float:
        return self.length * self.width * self.height

    @classmethod
    def with_rotation(
        cls,
        cx: builtins.float,
        cy: builtins.float,
        cz: builtins.float,
        length: builtins.float,
        width: builtins.float,
        height: builtins.float,
        roll: builtins.float,
        pitch: builtins.float,
        yaw: builtins.float,
    ) -> Any:
        return cast(Any, cls)(
            cx=cx, cy=cy, cz=cz, length=length, width=width, height=height, roll=roll, pitch=pitch, yaw=yaw
        )


class TrackingHeaderMethods:
    __slots__ = ()
    num_tracks: builtins.int

    def data_size(self) -> builtins.int:
        """Bytes of the tracks that follow this header: num_tracks TrackedObject messages."""
        from ..messages import TrackedObject

        return self.num_tracks * TrackedObject.SIZE
