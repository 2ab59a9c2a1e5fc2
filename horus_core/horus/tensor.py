"""horus.Tensor: upstream HORUS's n-dimensional array type, over numpy (which must be installed).

Shapes are lists, dtypes strings ("float32", "uint8", ...); ``numpy()`` and
``np.asarray(t)`` are views of the tensor's memory, never copies; arithmetic,
comparisons, reductions and conversions return new tensors. Sending one on a topic
sends its array (numpy arrays are what topics carry without copies of their own).

Not provided: upstream's TensorPool and its shared-memory handles (a tensor here lives
in the process that made it), and CUDA devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DTYPES = (
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool",
)  # fmt: skip


def _dtype(name: str) -> np.dtype[Any]:
    if name not in DTYPES:
        raise ValueError(f"Tensor dtype {name!r} is not one of {', '.join(DTYPES)}")
    return np.dtype(name)


class Tensor:
    """``horus.Tensor([480, 640, 3], dtype="uint8")``: zero-filled; ``Tensor.from_numpy(a)`` copies `a`."""

    __slots__ = ("_array",)

    def __init__(self, shape: Sequence[int], dtype: str = "float32") -> None:
        self._array: np.ndarray[Any, Any] | None = np.zeros(tuple(shape), dtype=_dtype(dtype))

    @classmethod
    def _wrap(cls, array: np.ndarray[Any, Any]) -> Tensor:
        tensor = cls.__new__(cls)
        tensor._array = array
        return tensor

    @classmethod
    def zeros(cls, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        return cls(shape, dtype)

    @classmethod
    def empty(cls, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        _dtype(dtype)
        return cls._wrap(np.empty(tuple(shape), dtype=dtype))

    @classmethod
    def from_numpy(cls, array: np.ndarray[Any, Any]) -> Tensor:
        array = np.asarray(array)
        _dtype(array.dtype.name)
        return cls._wrap(np.array(array, copy=True, order="C"))

    # -- what it is ----------------------------------------------------------------

    @property
    def _a(self) -> np.ndarray[Any, Any]:
        if self._array is None:
            raise RuntimeError("this Tensor was released: its memory is gone")
        return self._array

    @property
    def shape(self) -> list[int]:
        return list(self._a.shape)

    @property
    def dtype(self) -> str:
        return self._a.dtype.name

    @property
    def nbytes(self) -> int:
        return int(self._a.nbytes)

    @property
    def numel(self) -> int:
        return int(self._a.size)

    def __len__(self) -> int:
        return len(self._a)

    def numpy(self) -> np.ndarray[Any, Any]:
        """A view of the tensor's memory: writing to it writes the tensor."""
        return self._a

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self._a.__array_interface__

    def tolist(self) -> Any:
        return self._a.tolist()

    def release(self) -> None:
        """Drop the memory now (views from numpy() keep theirs); the tensor is unusable after."""
        self._array = None

    def __repr__(self) -> str:
        if self._array is None:
            return "Tensor(released)"
        return f"Tensor(shape={self.shape}, dtype={self.dtype})"

    # -- indexing and shapes: plain numpy values out, as upstream ---------------------------

    def __getitem__(self, index: Any) -> Any:
        return self._a[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self._a[index] = value

    def reshape(self, *shape: Any) -> Tensor:
        dims = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else shape
        return Tensor._wrap(self._a.reshape(dims))

    view = reshape

    def flatten(self) -> Tensor:
        return Tensor._wrap(self._a.reshape(-1))

    def squeeze(self) -> Tensor:
        return Tensor._wrap(self._a.squeeze())

    def unsqueeze(self, dim: int) -> Tensor:
        return Tensor._wrap(np.expand_dims(self._a, dim))

    def slice(self, start: int, end: int) -> Tensor:
        """Rows `start` to `end` of the first dimension, sharing memory."""
        return Tensor._wrap(self._a[start:end])

    @property
    def T(self) -> np.ndarray[Any, Any]:  # upstream's name (numpy's too)
        return self._a.T

    # -- arithmetic, comparisons, reductions, conversions: new tensors ---------------------

    @staticmethod
    def _operand(other: Any) -> Any:
        return other._a if isinstance(other, Tensor) else other

    def __add__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a + self._operand(other))

    def __sub__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a - self._operand(other))

    def __mul__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a * self._operand(other))

    def __truediv__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a / self._operand(other))

    __radd__, __rmul__ = __add__, __mul__

    def __neg__(self) -> Tensor:
        return Tensor._wrap(-self._a)

    # Elementwise, as numpy's: == and != give tensors of bool, not one bool.
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._wrap(self._a == self._operand(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor._wrap(self._a != self._operand(other))

    def __lt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a < self._operand(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a <= self._operand(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a > self._operand(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._a >= self._operand(other))

    def _reduce(self, fn: Any, dim: int | None) -> Tensor:
        result = fn(self._a, axis=dim)
        return Tensor._wrap(np.atleast_1d(np.asarray(result)))

    def sum(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.sum, dim)

    def mean(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.mean, dim)

    def max(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.max, dim)

    def min(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.min, dim)

    def astype(self, dtype: str) -> Tensor:
        return Tensor._wrap(self._a.astype(_dtype(dtype), copy=False))

    def to_float32(self) -> Tensor:
        return self.astype("float32")

    def to_int32(self) -> Tensor:
        return self.astype("int32")

    def to_uint8(self) -> Tensor:
        return self.astype("uint8")

    def float(self) -> Tensor:
        return self.astype("float32")

    def half(self) -> Tensor:
        return self.astype("float16")

    def int(self) -> Tensor:
        return self.astype("int32")

    def byte(self) -> Tensor:
        return self.astype("uint8")
