"""Upstream HORUS's large data: Image, DepthImage, PointCloud, OccupancyGrid and CompressedImage,
each a numpy array with a little metadata (encoding, frame_id, timestamp_ns, ...). numpy is
required for them.

`to_numpy()` is a view of the frame's own memory. On a topic a frame travels as its metadata and its
array (codec tag G: one copy into shared memory, one out, never pickled) and arrives as the same
class over the receiver's copy: a 640x480x3 frame costs a subscriber one memcpy.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np

from .tensor import Tensor

_F = TypeVar("_F", bound="Frame")
_A = TypeVar("_A", bound="_ArrayFrame")

# Image encodings: (channels, dtype).
ENCODINGS = {
    "mono8": (1, "uint8"), "mono16": (1, "uint16"), "rgb8": (3, "uint8"), "bgr8": (3, "uint8"),
    "rgba8": (4, "uint8"), "bgra8": (4, "uint8"), "rgb16": (3, "uint16"), "32FC1": (1, "float32"),
}  # fmt: skip


class Frame:
    """What the three share: the array, where it was taken (frame_id) and when (timestamp_ns)."""

    __slots__ = ("_array", "frame_id", "timestamp_ns")
    KIND: ClassVar[int]  # the codec's tag for the class
    _BY_KIND: ClassVar[dict[int, type[Frame]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "KIND" in cls.__dict__:  # a concrete frame, not a shared base
            Frame._BY_KIND[cls.KIND] = cls

    def _setup(self, array: np.ndarray[Any, Any]) -> None:
        self._array = array
        self.frame_id = ""
        self.timestamp_ns = 0

    def to_numpy(self) -> np.ndarray[Any, Any]:
        """The frame's memory as a numpy array (a view: writes show in the frame)."""
        return self._array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        return self._array if dtype is None else self._array.astype(dtype)

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self._array.__array_interface__

    @property
    def dtype(self) -> str:
        return self._array.dtype.name

    @property
    def nbytes(self) -> int:
        return int(self._array.nbytes)

    def set_frame_id(self, id: str) -> None:  # upstream's parameter name
        self.frame_id = str(id)

    def set_timestamp_ns(self, ts: int) -> None:
        self.timestamp_ns = int(ts)

    def is_cpu(self) -> bool:
        return True

    def is_cuda(self) -> bool:
        return False

    def meta(self) -> dict[str, Any]:
        """What travels beside the array."""
        return {"frame_id": self.frame_id, "timestamp_ns": self.timestamp_ns}

    @classmethod
    def restore(cls, kind: int, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        """A received frame over `array`; ValueError when the metadata does not fit the array."""
        target = Frame._BY_KIND.get(kind)
        if target is None:
            raise ValueError(f"unknown frame kind {kind}")
        frame = target._from_received(array, meta)
        frame.frame_id = str(meta.get("frame_id", ""))
        frame.timestamp_ns = int(meta.get("timestamp_ns", 0))
        return frame

    @classmethod
    def _wrap(cls: type[_F], array: np.ndarray[Any, Any]) -> _F:
        """A frame over `array` itself (no copy), once the caller has checked its shape and dtype."""
        frame = cls.__new__(cls)
        frame._setup(array)
        return frame

    @classmethod
    def _from_received(cls, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Frame)
        return self.meta() == other.meta() and np.array_equal(self._array, other._array)

    __hash__ = None  # type: ignore[assignment]


class _Host:
    """Upstream's device queries and indexing of Image, DepthImage and PointCloud: frames here are
    always in host memory, so `to_cpu()` is the frame itself and `as_tensor()` a view of it."""

    __slots__ = ()
    _array: np.ndarray[Any, Any]

    @property
    def device(self) -> str:
        return "cpu"

    def is_gpu(self) -> bool:
        return False

    def to_cpu(self: _H) -> _H:
        return self

    def as_tensor(self) -> Tensor:
        """A horus.Tensor over the frame's memory (no copy: writes show in the frame)."""
        return Tensor._over(self._array)

    def __getitem__(self, key: Any) -> Any:
        return self._array[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._array[key] = value


_H = TypeVar("_H", bound=_Host)


class _Raster:
    """Rows by columns: the height and width of an image's array (row-major, as cameras give them)."""

    _array: np.ndarray[Any, Any]

    @property
    def height(self) -> int:
        return int(self._array.shape[0])

    @property
    def width(self) -> int:
        return int(self._array.shape[1])


class Image(_Host, _Raster, Frame):
    """An image of `height` x `width` pixels in `encoding` (rgb8, bgr8, rgba8, bgra8, mono8, mono16,
    rgb16, 32FC1), zero-filled. to_numpy() is (height, width, channels), or (height, width) for one."""

    __slots__ = ("encoding",)
    KIND = 1

    def __init__(self, height: int, width: int, encoding: str = "rgb8") -> None:
        channels, dtype = self._encoding(encoding)
        shape = (height, width) if channels == 1 else (height, width, channels)
        self._setup(np.zeros(shape, dtype=dtype))
        self.encoding = encoding

    @staticmethod
    def _encoding(encoding: str) -> tuple[int, str]:
        if encoding not in ENCODINGS:
            raise ValueError(f"Image encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
        return ENCODINGS[encoding]

    @classmethod
    def from_numpy(cls, array: Any, encoding: str | None = None) -> Image:
        """An image holding a copy of `array` (H x W or H x W x C); the encoding is guessed when not given."""
        source = np.asarray(array)
        guessed = encoding or cls._guess(source)
        return cls._over(np.array(source, order="C", copy=True), guessed)

    @staticmethod
    def _guess(array: np.ndarray[Any, Any]) -> str:
        channels = 1 if array.ndim == 2 else array.shape[-1]
        for name, (c, dtype) in ENCODINGS.items():
            if c == channels and dtype == array.dtype.name and not name.startswith("bgr"):
                return name
        raise ValueError(f"no Image encoding for a {array.dtype.name} array of shape {array.shape}: pass encoding=")

    @classmethod
    def _over(cls, array: np.ndarray[Any, Any], encoding: str) -> Image:
        channels, dtype = cls._encoding(encoding)
        if (
            array.dtype.name != dtype
            or array.ndim != (2 if channels == 1 else 3)
            or array.shape[2:]
            not in (
                (),
                (channels,),
            )
        ):
            raise ValueError(f"a {array.dtype.name} array of shape {array.shape} is not a {encoding} image")
        image = cls._wrap(array)
        image.encoding = encoding
        return image

    @classmethod
    def from_bytes(cls, data: bytes, height: int, width: int, encoding: str = "rgb8") -> Image:
        channels, dtype = cls._encoding(encoding)
        shape = (height, width) if channels == 1 else (height, width, channels)
        return cls._over(np.frombuffer(bytes(data), dtype=dtype).reshape(shape).copy(), encoding)

    @classmethod
    def _from_received(cls, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        return cls._over(array, str(meta.get("encoding", "")))

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "encoding": self.encoding}

    @property
    def channels(self) -> int:
        return 1 if self._array.ndim == 2 else int(self._array.shape[2])

    @property
    def step(self) -> int:
        """Bytes per row."""
        return int(self._array.strides[0])

    def pixel(self, x: int, y: int) -> list[Any]:
        return np.atleast_1d(self._array[y, x]).tolist()

    def set_pixel(self, x: int, y: int, value: list[Any]) -> None:
        self._array[y, x] = value if self.channels > 1 else value[0]

    def fill(self, value: list[Any]) -> None:
        self._array[...] = value if self.channels > 1 else value[0]

    def copy_from(self, data: bytes) -> None:
        np.copyto(self._array, np.frombuffer(bytes(data), dtype=self._array.dtype).reshape(self._array.shape))

    def roi(self, x: int, y: int, w: int, h: int) -> list[Any]:
        """The pixels of a rectangle, row by row, as a flat list."""
        return self._array[y : y + h, x : x + w].reshape(-1).tolist()

    # Upstream's arithmetic: numpy's, elementwise, into a new horus.Tensor (the image is unchanged).
    def __add__(self, other: Any) -> Tensor:
        return Tensor._over(np.add(self._array, other))

    def __sub__(self, other: Any) -> Tensor:
        return Tensor._over(np.subtract(self._array, other))

    def __mul__(self, other: Any) -> Tensor:
        return Tensor._over(np.multiply(self._array, other))

    def __truediv__(self, other: Any) -> Tensor:
        return Tensor._over(np.true_divide(self._array, other))

    def __repr__(self) -> str:
        return f"Image({self.height}x{self.width}, encoding={self.encoding}, frame_id={self.frame_id!r})"


class _ArrayFrame(Frame):
    """A frame that is its array and nothing more: made from numpy (copied) or received (not)."""

    __slots__ = ()

    @classmethod
    def _check(cls, array: np.ndarray[Any, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def from_numpy(cls: type[_A], array: Any) -> _A:
        copied = np.array(np.asarray(array), order="C", copy=True)
        cls._check(copied)
        return cls._wrap(copied)

    @classmethod
    def _from_received(cls, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        cls._check(array)
        return cls._wrap(array)


class DepthImage(_Host, _Raster, _ArrayFrame):
    """A depth image of `height` x `width`: float32 in meters, or uint16 in millimeters."""

    __slots__ = ()
    KIND = 2
    DTYPES = ("float32", "uint16")

    def __init__(self, height: int, width: int, dtype: str = "float32") -> None:
        self._setup(np.zeros((height, width), dtype=self._dtype(dtype)))

    @classmethod
    def _dtype(cls, dtype: str) -> str:
        if dtype not in cls.DTYPES:
            raise ValueError(f"DepthImage dtype {dtype!r} is not float32 (m) or uint16 (mm)")
        return dtype

    @classmethod
    def _check(cls, array: np.ndarray[Any, Any]) -> None:
        cls._dtype(array.dtype.name)
        if array.ndim != 2:
            raise ValueError(f"a depth image is 2-dimensional, not of shape {array.shape}")

    @property
    def depth_scale(self) -> float:
        """Meters per stored unit."""
        return 1.0 if self.is_meters() else 0.001

    def is_meters(self) -> bool:
        return self._array.dtype.name == "float32"

    def is_millimeters(self) -> bool:
        return not self.is_meters()

    def get_depth(self, x: int, y: int) -> float:
        """Depth at (x, y) in meters."""
        return float(self._array[y, x]) * self.depth_scale

    def set_depth(self, x: int, y: int, value: float) -> None:
        """Set the depth at (x, y), given in meters."""
        self._array[y, x] = value / self.depth_scale

    def depth_statistics(self) -> tuple[float, float, float] | None:
        """(min, max, mean) in meters over valid (nonzero, finite) pixels; None if there are none."""
        valid = self._array[np.isfinite(self._array) & (self._array > 0)] * self.depth_scale
        return None if valid.size == 0 else (float(valid.min()), float(valid.max()), float(valid.mean()))

    def __repr__(self) -> str:
        return f"DepthImage({self.height}x{self.width}, dtype={self.dtype}, frame_id={self.frame_id!r})"


class PointCloud(_Host, _ArrayFrame):
    """`num_points` points of `fields` values each (3: x y z; 4: + intensity; 6: + r g b)."""

    __slots__ = ()
    KIND = 3

    def __init__(self, num_points: int, fields: int = 3, dtype: str = "float32") -> None:
        self._setup(np.zeros((num_points, fields), dtype=dtype))

    @classmethod
    def _check(cls, array: np.ndarray[Any, Any]) -> None:
        if array.ndim != 2 or array.dtype.kind != "f":
            raise ValueError(f"a point cloud is N x fields floats, not {array.dtype.name} of shape {array.shape}")

    @property
    def point_count(self) -> int:
        return int(self._array.shape[0])

    @property
    def fields_per_point(self) -> int:
        return int(self._array.shape[1])

    def point_at(self, idx: int) -> list[float]:
        return [float(v) for v in self._array[idx]]

    def is_xyz(self) -> bool:
        return self.fields_per_point == 3

    def has_intensity(self) -> bool:
        return self.fields_per_point in (4, 7)

    def has_color(self) -> bool:
        return self.fields_per_point >= 6

    def __len__(self) -> int:
        return self.point_count

    def __repr__(self) -> str:
        return f"PointCloud({self.point_count} points x {self.fields_per_point}, frame_id={self.frame_id!r})"


class OccupancyGrid(Frame):
    """A map of `width` x `height` cells of `resolution` m from `origin` (x, y, theta): each cell
    -1 unknown, 0 free to 100 occupied (int8), every cell unknown at first. Rows are y, columns x."""

    __slots__ = ("origin", "resolution")
    KIND = 4
    __topic_name__ = "occupancy_grid"  # upstream's default topic for the class
    OCCUPIED = 50  # a cell at or above this is occupied; at 0..49 free

    def __init__(self, width: int = 0, height: int = 0, resolution: float = 0.05) -> None:
        self._setup(np.full((height, width), -1, dtype=np.int8))
        self.resolution = float(resolution)
        self.origin = (0.0, 0.0, 0.0)

    @classmethod
    def _from_received(cls, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        if array.dtype.name != "int8" or array.ndim != 2:
            raise ValueError(f"an occupancy grid is 2-dimensional int8, not {array.dtype.name} of shape {array.shape}")
        grid = cls._wrap(array)
        grid.resolution = float(meta.get("resolution", 0.05))
        x, y, theta = (float(v) for v in meta.get("origin", (0.0, 0.0, 0.0)))
        grid.origin = (x, y, theta)
        return grid

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "resolution": self.resolution, "origin": list(self.origin)}

    @property
    def width(self) -> int:
        return int(self._array.shape[1])

    @property
    def height(self) -> int:
        return int(self._array.shape[0])

    @property
    def data(self) -> list[int]:
        """Every cell, row by row (a copy; to_numpy() is the grid itself)."""
        return [int(v) for v in self._array.reshape(-1)]

    def occupancy(self, grid_x: int, grid_y: int) -> int | None:
        """The cell's value, None outside the grid."""
        inside = 0 <= grid_x < self.width and 0 <= grid_y < self.height
        return int(self._array[grid_y, grid_x]) if inside else None

    def set_occupancy(self, grid_x: int, grid_y: int, value: int) -> bool:
        """Set a cell (-1..100); False outside the grid."""
        if not (0 <= grid_x < self.width and 0 <= grid_y < self.height):
            return False
        self._array[grid_y, grid_x] = max(-1, min(100, int(value)))
        return True

    def world_to_grid(self, x: float, y: float) -> tuple[int, int] | None:
        """The cell holding the point (m), None outside the grid (the origin's rotation is not applied)."""
        gx, gy = int((x - self.origin[0]) // self.resolution), int((y - self.origin[1]) // self.resolution)
        return (gx, gy) if 0 <= gx < self.width and 0 <= gy < self.height else None

    def grid_to_world(self, grid_x: int, grid_y: int) -> tuple[float, float] | None:
        """The centre of a cell (m)."""
        if self.occupancy(grid_x, grid_y) is None:
            return None
        return (self.origin[0] + (grid_x + 0.5) * self.resolution, self.origin[1] + (grid_y + 0.5) * self.resolution)

    def is_free(self, x: float, y: float) -> bool:
        cell = self.world_to_grid(x, y)
        return cell is not None and 0 <= self._array[cell[1], cell[0]] < self.OCCUPIED

    def is_occupied(self, x: float, y: float) -> bool:
        cell = self.world_to_grid(x, y)
        return cell is not None and self._array[cell[1], cell[0]] >= self.OCCUPIED

    def __repr__(self) -> str:
        return f"OccupancyGrid({self.width}x{self.height}, resolution={self.resolution})"


class CompressedImage(Frame):
    """An encoded image (`format` "jpeg", "png", ...) of width x height pixels: its bytes, not decoded."""

    __slots__ = ("format", "height", "width")
    KIND = 5
    __topic_name__ = "compressed_image"  # upstream's default topic for the class

    def __init__(self, format: str = "jpeg", data: Any = None, width: int = 0, height: int = 0) -> None:
        self._setup(np.frombuffer(bytes(data or b""), dtype=np.uint8).copy())
        self.format, self.width, self.height = str(format), int(width), int(height)

    @classmethod
    def _from_received(cls, array: np.ndarray[Any, Any], meta: dict[str, Any]) -> Frame:
        if array.dtype.name != "uint8" or array.ndim != 1:
            raise ValueError(f"a compressed image is bytes, not {array.dtype.name} of shape {array.shape}")
        image = cls.__new__(cls)
        image._setup(array)
        image.format = str(meta.get("format", ""))
        image.width, image.height = int(meta.get("width", 0)), int(meta.get("height", 0))
        return image

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "format": self.format, "width": self.width, "height": self.height}

    @property
    def data(self) -> bytes:
        return self._array.tobytes()

    def data_len(self) -> int:
        return int(self._array.size)

    def __repr__(self) -> str:
        return f"CompressedImage({self.format}, {self.width}x{self.height}, {self.data_len()} bytes)"
