"""horus.Tensor: upstream HORUS's n-dimensional array, over a numpy array (numpy is required for it).

Shapes are lists and dtypes names ("float32"), as upstream has them; `numpy()` is a view of the
tensor's own memory, never a copy. On a topic a Tensor travels as its array does (one copy into
shared memory, one out; never pickled) and arrives as a Tensor over the receiver's copy.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensorpool import TensorHandle

DTYPES = ("bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64")  # fmt: skip


def _dtype(name: str) -> np.dtype[Any]:
    if name not in DTYPES:
        raise TypeError(f"Tensor dtype {name!r} is not one of {', '.join(DTYPES)}")
    return np.dtype(name)


def _shape(dims: tuple[Any, ...]) -> list[int]:
    """reshape(3, 4) and reshape([3, 4]) alike."""
    return list(dims[0]) if len(dims) == 1 and isinstance(dims[0], Sequence) else [int(d) for d in dims]


class Tensor:
    """A tensor of `shape` (a list of ints) and `dtype` (default "float32"), zero-filled."""

    __slots__ = ("_array", "_pooled")
    __hash__ = None  # type: ignore[assignment]  # == compares elementwise, as numpy's

    def __init__(self, shape: Sequence[int], dtype: str = "float32") -> None:
        self._array: np.ndarray[Any, Any] | None = np.zeros([int(d) for d in shape], dtype=_dtype(dtype))
        self._pooled: TensorHandle | None = None  # where the tensor lives once shared (to_descriptor)

    @classmethod
    def _over(cls, array: np.ndarray[Any, Any]) -> Tensor:
        """A tensor over `array` itself (no copy): how views, results and received tensors are made."""
        tensor = cls.__new__(cls)
        tensor._array = array
        tensor._pooled = None
        return tensor

    @classmethod
    def zeros(cls, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        return cls(shape, dtype)

    @classmethod
    def empty(cls, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        return cls._over(np.empty([int(d) for d in shape], dtype=_dtype(dtype)))

    @classmethod
    def from_numpy(cls, array: Any) -> Tensor:
        """A tensor holding a copy of `array` (C order), as upstream copies it into its own memory."""
        source = np.asarray(array)
        _dtype(source.dtype.name)
        return cls._over(np.array(source, order="C", copy=True))

    @property
    def array(self) -> np.ndarray[Any, Any]:
        if self._array is None:
            raise RuntimeError("this Tensor was released: its memory is gone")
        return self._array

    def numpy(self) -> np.ndarray[Any, Any]:
        """The tensor's memory as a numpy array (a view: writes show in the tensor)."""
        return self.array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        return self.array if dtype is None else self.array.astype(dtype)

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self.array.__array_interface__

    @property
    def shape(self) -> list[int]:
        return list(self.array.shape)

    @property
    def dtype(self) -> str:
        return self.array.dtype.name

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def numel(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        return len(self.array)

    def __repr__(self) -> str:
        if self._array is None:
            return "Tensor(released)"
        return f"Tensor(shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key: Any) -> Any:
        return self.array[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.array[key] = np.asarray(value)

    def release(self) -> None:
        """Drop the tensor's memory now (its pool reference too, once shared); any later use raises RuntimeError."""
        self._array = None
        if self._pooled is not None:
            self._pooled.release()
            self._pooled = None

    # Upstream's device and sharing queries. A Tensor here is this process's memory, always on the CPU.
    @property
    def device(self) -> str:
        return "cpu"

    def is_cpu(self) -> bool:
        return True

    def is_cuda(self) -> bool:
        return False

    def is_gpu(self) -> bool:
        return False

    def cpu(self) -> Tensor:
        """The tensor on the CPU: itself (there is no other device here)."""
        return self

    def is_contiguous(self) -> bool:
        return bool(self.array.flags.c_contiguous)

    @property
    def refcount(self) -> int:
        """References to the tensor's memory: 1 (this process's) until to_descriptor() shares it,
        then every process's reference to its slot in TensorPool 1."""
        self.array  # noqa: B018  # a released tensor says so
        return 1 if self._pooled is None else self._pooled.refcount

    def to_descriptor(self) -> bytes:
        """Upstream's way to share a tensor: bytes that `Tensor.from_descriptor(1, d)` turns, in another
        process of this namespace, into a TensorHandle over the same memory (send them on a topic).

        A Tensor here starts as this process's memory; the first call copies it into TensorPool 1 (upstream's
        Tensors always live there) and the tensor stays there: writes after it are seen by the receivers.
        numpy views taken before it still show the old memory. The slot is held until release() or collection.
        """
        if self._pooled is None:
            from .tensorpool import TensorPool

            handle = TensorPool(1).alloc(self.shape, self.dtype)
            shared = handle.numpy()
            shared[...] = self.array
            self._array, self._pooled = shared, handle
        return self._pooled.to_descriptor()

    def torch(self) -> Any:
        """A torch tensor over the same memory (no copy)."""
        import torch

        return torch.from_numpy(self.array)

    @staticmethod
    def from_descriptor(pool_id: int, descriptor_bytes: bytes) -> Any:
        """The pooled tensor another process described (upstream's Tensor is its pool handle):
        a horus.TensorHandle over the same memory."""
        from .tensorpool import TensorHandle

        return TensorHandle.from_descriptor(pool_id, descriptor_bytes)

    # Shape operations: views of the same memory where numpy can make one.
    def reshape(self, *shape: Any) -> Tensor:
        return Tensor._over(self.array.reshape(_shape(shape)))

    view = reshape

    def flatten(self) -> Tensor:
        return Tensor._over(self.array.reshape(-1))

    def squeeze(self, dim: int | None = None) -> Tensor:
        return Tensor._over(self.array.squeeze(axis=dim))

    def unsqueeze(self, dim: int) -> Tensor:
        return Tensor._over(np.expand_dims(self.array, dim))

    def slice(self, start: int, end: int) -> Tensor:
        """Rows start..end of the first dimension (a view)."""
        return Tensor._over(self.array[start:end])

    @property
    def T(self) -> np.ndarray[Any, Any]:  # upstream's name (and numpy's) for the transpose
        return self.array.T

    # Arithmetic and comparisons, elementwise as numpy's; results are new tensors.
    def _apply(self, op: Callable[[Any, Any], Any], other: Any) -> Tensor:
        return Tensor._over(np.asarray(op(self.array, other.array if isinstance(other, Tensor) else other)))

    def __add__(self, other: Any) -> Tensor:
        return self._apply(operator.add, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._apply(operator.add, other)

    def __sub__(self, other: Any) -> Tensor:
        return self._apply(operator.sub, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._apply(lambda a, b: b - a, other)

    def __mul__(self, other: Any) -> Tensor:
        return self._apply(operator.mul, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._apply(operator.mul, other)

    def __truediv__(self, other: Any) -> Tensor:
        return self._apply(operator.truediv, other)

    def __neg__(self) -> Tensor:
        return Tensor._over(-self.array)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._apply(operator.eq, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._apply(operator.ne, other)

    def __lt__(self, other: Any) -> Tensor:
        return self._apply(operator.lt, other)

    def __le__(self, other: Any) -> Tensor:
        return self._apply(operator.le, other)

    def __gt__(self, other: Any) -> Tensor:
        return self._apply(operator.gt, other)

    def __ge__(self, other: Any) -> Tensor:
        return self._apply(operator.ge, other)

    # Reductions: over everything (a one-element tensor) or along `dim`.
    def _reduce(self, fn: Callable[..., Any], dim: int | None) -> Tensor:
        return Tensor._over(np.atleast_1d(np.asarray(fn(self.array, axis=dim))))

    def sum(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.sum, dim)

    def mean(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.mean, dim)

    def max(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.max, dim)

    def min(self, dim: int | None = None) -> Tensor:
        return self._reduce(np.min, dim)

    # Type conversion: a new tensor (astype to the same dtype gives a copy, like upstream's clone).
    def astype(self, dtype: str) -> Tensor:
        return Tensor._over(self.array.astype(_dtype(dtype)))

    def to_float32(self) -> Tensor:
        return self.astype("float32")

    def to_float16(self) -> Tensor:
        return self.astype("float16")

    def to_int32(self) -> Tensor:
        return self.astype("int32")

    def to_uint8(self) -> Tensor:
        return self.astype("uint8")

    def tolist(self) -> Any:
        return self.array.tolist()
