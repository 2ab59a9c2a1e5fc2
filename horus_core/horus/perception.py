"""horus.perception: upstream HORUS's perception types, as Python objects (not topic messages).

Boxes, detections (72 bytes each in to_bytes, upstream's layout), point clouds, keypoints and
tracks for a perception pipeline; the behaviour shared with the messages of the same names
(horus.BoundingBox2D, horus.Detection, horus.Landmark, horus.TrackedObject) is theirs
(horus/messaging/message_methods/). numpy is imported only by the methods that take or give arrays, so
a robot without numpy can still use the rest.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .messaging.message import Message
from .messaging.message_methods import BoxMethods, DetectionCoreMethods, LandmarkMethods, TrackMethods

__all__ = [
    "BoundingBox2D",
    "COCOPose",
    "Detection",
    "DetectionList",
    "Landmark",
    "PointCloudBuffer",
    "PointXYZ",
    "PointXYZRGB",
    "TrackedObject",
]


class BoundingBox2D(BoxMethods):
    """An image box from its top-left corner (px)."""

    __slots__ = ("height", "width", "x", "y")

    def __init__(self, x: float = 0.0, y: float = 0.0, width: float = 0.0, height: float = 0.0) -> None:
        self.x, self.y, self.width, self.height = float(x), float(y), float(width), float(height)

    @property
    def area(self) -> float:
        return self.width * self.height

    def __repr__(self) -> str:
        return f"BoundingBox2D(x={self.x:.1f}, y={self.y:.1f}, w={self.width:.1f}, h={self.height:.1f})"


# Detection.to_bytes: box (4 f32), confidence (f32), class_id (u32), class_name (32 bytes,
# NUL-padded UTF-8), instance_id (u32), 12 bytes reserved: 72 bytes, little-endian.
_DETECTION = struct.Struct("<5fI32sI12x")
_NAME_BYTES = 31  # upstream keeps a NUL after the name


def _name_bytes(name: str, limit: int) -> bytes:
    """`name` as UTF-8, cut to `limit` bytes (upstream truncates rather than refusing)."""
    return name.encode("utf-8")[:limit]


class Detection(DetectionCoreMethods):
    """One object found in an image: class, confidence (0-1), box (px)."""

    __slots__ = ("bbox", "class_id", "class_name", "confidence", "instance_id")

    def __init__(
        self,
        class_name: str,
        confidence: float,
        x: float,
        y: float,
        width: float,
        height: float,
        class_id: int = 0,
        instance_id: int = 0,
    ) -> None:
        self.class_name, self.confidence = str(class_name), float(confidence)
        self.bbox = BoundingBox2D(x, y, width, height)
        self.class_id, self.instance_id = int(class_id), int(instance_id)

    def to_bytes(self) -> bytes:
        box = self.bbox
        name = _name_bytes(self.class_name, _NAME_BYTES)
        return _DETECTION.pack(
            box.x, box.y, box.width, box.height, self.confidence, self.class_id, name, self.instance_id
        )

    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> Detection:
        """The detection to_bytes gave: exactly 72 bytes, so a layout mismatch is caught early."""
        if len(data) != _DETECTION.size:
            raise ValueError(f"Detection requires exactly {_DETECTION.size} bytes, got {len(data)}")
        x, y, width, height, confidence, class_id, name, instance_id = _DETECTION.unpack(data)
        class_name = name.split(b"\0", 1)[0].decode("utf-8", errors="replace")
        return Detection(class_name, confidence, x, y, width, height, class_id, instance_id)

    def _as_dict(self) -> dict[str, Any]:
        return {
            "class_name": self.class_name,
            "confidence": self.confidence,
            "class_id": self.class_id,
            "instance_id": self.instance_id,
            "bbox": self.bbox.as_tuple(),
        }

    def __repr__(self) -> str:
        box = self.bbox
        return (
            f"Detection('{self.class_name}', conf={self.confidence:.2f}, "
            f"bbox=({box.x:.0f}, {box.y:.0f}, {box.width:.0f}, {box.height:.0f}))"
        )


def _detection(item: object) -> Detection:
    """A perception Detection, or the horus.Detection message as one (upstream takes both)."""
    if isinstance(item, Detection):
        return item
    if isinstance(item, Message) and type(item).__name__ == "Detection":
        msg: Any = item
        return Detection(
            msg.class_name, msg.confidence, msg.x, msg.y, msg.width, msg.height, msg.class_id, msg.instance_id
        )
    raise TypeError(f"expected a Detection (horus.perception.Detection or horus.Detection), got {type(item).__name__}")


class DetectionList:
    """Detections of one frame, filtered into new lists."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Detection] = []

    @staticmethod
    def from_list(detections: Iterable[object]) -> DetectionList:
        return DetectionList._of(_detection(d) for d in detections)

    @staticmethod
    def _of(detections: Iterable[Detection]) -> DetectionList:
        result = DetectionList()
        result._items = list(detections)
        return result

    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> DetectionList:
        """The list to_bytes gave: 72 bytes a detection (a shorter tail is ignored, as upstream)."""
        size = _DETECTION.size
        view = memoryview(data)
        starts = range(0, len(view) - size + 1, size)
        return DetectionList._of(Detection.from_bytes(view[at : at + size]) for at in starts)

    def append(self, detection: object) -> None:
        self._items.append(_detection(detection))

    def filter_confidence(self, threshold: float) -> DetectionList:
        """The detections with confidence at least `threshold`."""
        return DetectionList._of(d for d in self._items if d.is_confident(threshold))

    def filter_class(self, class_name: str) -> DetectionList:
        return DetectionList._of(d for d in self._items if d.class_name == class_name)

    def to_bytes(self) -> bytes:
        return b"".join(d.to_bytes() for d in self._items)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict a detection: class_name, confidence, class_id, instance_id, bbox (x, y, w, h)."""
        return [d._as_dict() for d in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Detection:
        return self._items[index]

    def __iter__(self) -> Iterator[Detection]:
        return iter(list(self._items))

    def __repr__(self) -> str:
        return f"DetectionList({len(self._items)} detections)"


class PointXYZ:
    """A 3D point (m)."""

    __slots__ = ("x", "y", "z")

    def __init__(self, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> None:
        self.x, self.y, self.z = float(x), float(y), float(z)

    def distance(self) -> float:
        """Distance from the origin."""
        return math.hypot(self.x, self.y, self.z)

    def distance_to(self, other: PointXYZ) -> float:
        return math.dist(self.as_tuple(), other.as_tuple())

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)

    def to_numpy(self) -> Any:
        """[x, y, z] as a numpy array (float64, as upstream's)."""
        import numpy as np

        return np.array(self.as_tuple())

    def __repr__(self) -> str:
        return f"PointXYZ({self.x:.3f}, {self.y:.3f}, {self.z:.3f})"


def _channel(name: str, value: int) -> int:
    if not 0 <= value <= 255:
        raise OverflowError(f"PointXYZRGB.{name}: a colour channel is 0..255, got {value}")
    return int(value)


class PointXYZRGB:
    """A 3D point (m) with its colour (0..255 a channel)."""

    __slots__ = ("b", "g", "r", "x", "y", "z")

    def __init__(
        self, x: float = 0.0, y: float = 0.0, z: float = 0.0, r: int = 255, g: int = 255, b: int = 255
    ) -> None:
        self.x, self.y, self.z = float(x), float(y), float(z)
        self.r, self.g, self.b = _channel("r", r), _channel("g", g), _channel("b", b)

    def rgb(self) -> tuple[int, int, int]:
        return (self.r, self.g, self.b)

    def xyz(self) -> PointXYZ:
        return PointXYZ(self.x, self.y, self.z)

    def __repr__(self) -> str:
        return f"PointXYZRGB({self.x:.3f}, {self.y:.3f}, {self.z:.3f}, rgb=({self.r}, {self.g}, {self.b}))"


class Landmark(LandmarkMethods):
    """A 2D keypoint (px) with its visibility (0-1) and index in its skeleton (see COCOPose)."""

    __slots__ = ("index", "visibility", "x", "y")

    def __init__(self, x: float, y: float, visibility: float = 1.0, index: int = 0) -> None:
        self.x, self.y, self.visibility, self.index = float(x), float(y), float(visibility), int(index)

    def __repr__(self) -> str:
        return f"Landmark({self.x:.1f}, {self.y:.1f}, vis={self.visibility:.2f}, idx={self.index})"


class TrackedObject(TrackMethods):
    """An object tracked across frames; a new track is tentative, with age 0 and one hit."""

    __slots__ = (
        "age",
        "bbox",
        "class_id",
        "class_name",
        "confidence",
        "hits",
        "state",
        "time_since_update",
        "track_id",
        "velocity_x",
        "velocity_y",
    )

    def __init__(
        self, track_id: int, bbox: BoundingBox2D, class_name: str, confidence: float, class_id: int = 0
    ) -> None:
        self.track_id, self.class_name, self.class_id = int(track_id), str(class_name), int(class_id)
        self.bbox, self.confidence = BoundingBox2D(*bbox.as_tuple()), float(confidence)
        self.velocity_x = self.velocity_y = 0.0
        self.age, self.hits, self.time_since_update, self.state = 0, 1, 0, 0

    def __repr__(self) -> str:
        return f"TrackedObject(id={self.track_id}, '{self.class_name}', conf={self.confidence:.2f}, age={self.age})"


# PointCloudBuffer.to_bytes: a 64-byte header (u64 points, u32 point type, u32 stride 12,
# 16 bytes reserved, frame_id in 32 bytes NUL-padded), then x, y, z as f32 a point.
_CLOUD_HEADER = struct.Struct("<QII16x32s")
_XYZ, _XYZI = 0, 2  # upstream's point types: 4 columns are x, y, z, intensity


class PointCloudBuffer:
    """x, y, z points (f32), added one by one or taken from an (N, 3) or (N, 4) array."""

    __slots__ = ("_count", "_data", "_frame_id", "_point_type")

    def __init__(self, capacity: int = 0, frame_id: str = "") -> None:
        import array

        self._data = array.array("f")  # x0, y0, z0, x1, ...: f32, as upstream keeps them
        self._count, self._frame_id, self._point_type = 0, str(frame_id), _XYZ
        del capacity  # only a hint upstream; the buffer grows as needed

    @staticmethod
    def from_numpy(array: Any, frame_id: str = "") -> PointCloudBuffer:
        """The points of an (N, 3) array, or (N, 4) with intensity (dropped); kept as float32."""
        import numpy as np

        points = np.asarray(array)
        if points.ndim != 2 or points.shape[1] < 3:
            raise ValueError(f"PointCloudBuffer.from_numpy: array must be (N, 3) or (N, 4), got shape {points.shape}")
        cloud = PointCloudBuffer(frame_id=frame_id)
        cloud._data.frombytes(np.ascontiguousarray(points[:, :3], dtype="<f4").tobytes())
        cloud._count = points.shape[0]
        cloud._point_type = _XYZ if points.shape[1] == 3 else _XYZI
        return cloud

    @property
    def frame_id(self) -> str:
        return self._frame_id

    def add_point(self, x: float, y: float, z: float) -> None:
        self._data.extend((x, y, z))
        self._count += 1

    def to_numpy(self) -> Any:
        """The points as an (N, 3) float64 array (a copy; float64 as upstream gives it)."""
        import numpy as np

        return np.array(self._data, dtype=np.float64).reshape(self._count, 3)

    def to_bytes(self) -> bytes:
        header = _CLOUD_HEADER.pack(self._count, self._point_type, 12, _name_bytes(self._frame_id, _NAME_BYTES))
        data = self._data[:]
        if sys.byteorder == "big":  # the array is native; the bytes are little-endian, as upstream's
            data.byteswap()
        return header + data.tobytes()

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> PointXYZ:
        if not 0 <= index < self._count:
            raise IndexError(f"PointCloudBuffer index {index} out of range ({self._count} points)")
        return PointXYZ(*self._data[3 * index : 3 * index + 3])

    def __repr__(self) -> str:
        return f"PointCloudBuffer({self._count} points, frame='{self._frame_id}')"


class COCOPose:
    """The 17 keypoints of the COCO pose model: Landmark.index values."""

    NOSE = 0
    LEFT_EYE = 1
    RIGHT_EYE = 2
    LEFT_EAR = 3
    RIGHT_EAR = 4
    LEFT_SHOULDER = 5
    RIGHT_SHOULDER = 6
    LEFT_ELBOW = 7
    RIGHT_ELBOW = 8
    LEFT_WRIST = 9
    RIGHT_WRIST = 10
    LEFT_HIP = 11
    RIGHT_HIP = 12
    LEFT_KNEE = 13
    RIGHT_KNEE = 14
    LEFT_ANKLE = 15
    RIGHT_ANKLE = 16
    NUM_KEYPOINTS = 17
