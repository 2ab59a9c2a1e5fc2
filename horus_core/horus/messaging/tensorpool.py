"""horus.TensorPool and TensorHandle, as upstream HORUS has them: tensors in a shared-memory
pool that every process of the namespace maps, handed between processes as small descriptors.

    pool = horus.TensorPool(pool_id=1, size_mb=64)
    frame = pool.alloc([480, 640, 3], dtype="uint8")
    frame.numpy()[:] = camera_image                      # written in place, no copy
    node.send("frames", frame.to_descriptor())           # ~60 bytes on the topic
    ... in another process:
    frame = horus.TensorHandle.from_descriptor(1, node.recv("frames"))
    frame.numpy()                                         # the same memory, no copy
    frame.release()

A pool is one file, /dev/shm/horus.<ns>/tensors/pool.<id>, made whole before it is linked into
place (a process never maps half a header); later TensorPool(pool_id) calls, in any process,
map the same file with its size. Layout (little-endian): a 64-byte header (magic
"HORUSTP1", data size u64, slot count u32), then per slot {offset u64, nbytes u64, refcount
u32, generation u32, 8 spare}, then the data at the next 4 KiB boundary. Every read-modify-write
of the slot table happens under an fcntl lock on the header's first byte (and a thread lock:
fcntl locks are per process), so the kernel orders those updates between processes; tensor
bytes are not locked: send the descriptor after writing them (the topic's publish is the
release, its receive the acquire). The file is hostile: a header that does not fit the file,
and a descriptor that does not match a live slot (generation, bounds, dtype), are refused.

Each handle holds one reference (slices and views take their own); release() or dropping the
handle gives it back, and the slot is reused once no process holds one. A process that dies
keeps its references: `horus clean --shm` frees the pool once no process maps it. CUDA
(device="cuda", cuda(), __cuda_array_interface__) is not provided.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import _core
from ..errors import HorusError, TopicCorruptError
from . import namespace
from .tensor import DTYPES

MAGIC = b"HORUSTP1"
_HEADER = struct.Struct("<8sQI44x")
_SLOT = struct.Struct("<QQII8x")
_DESC = struct.Struct("<4sIIIQBB")
_DESC_MAGIC = b"HTD1"
ALIGN = 64
MAX_SLOTS = 1 << 16
MAX_DIMS = 32


class TensorPool:
    """A shared-memory pool; ``TensorPool(pool_id)`` in another process maps the same one."""

    _open: ClassVar[dict[tuple[str, int], TensorPool]] = {}  # one mapping per process and pool
    _open_lock = threading.Lock()

    def __new__(cls, pool_id: int = 1, size_mb: int = 1024, max_slots: int = 1024) -> TensorPool:
        key = (namespace.current(), pool_id)
        with cls._open_lock:
            pool = cls._open.get(key)
            if pool is None:
                pool = super().__new__(cls)
                pool._map(pool_id, size_mb, max_slots)
                cls._open[key] = pool
            return pool

    def _map(self, pool_id: int, size_mb: int, max_slots: int) -> None:
        if not 0 <= pool_id < 1 << 32 or size_mb < 1 or not 1 <= max_slots <= MAX_SLOTS:
            raise ValueError(
                f"TensorPool(pool_id={pool_id}, size_mb={size_mb}, max_slots={max_slots}): the id is a u32, "
                f"the size at least 1 MB, the slots 1 to {MAX_SLOTS}"
            )
        self._pool_id = pool_id
        directory = namespace.directory()
        _core.ns_prepare(str(directory))
        _core.ns_prepare(str(directory / "tensors"))
        path = directory / "tensors" / f"pool.{pool_id}"
        if not path.exists():
            _create(path, size_mb << 20, max_slots)
        self._fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        fcntl.flock(self._fd, fcntl.LOCK_SH)  # held while mapped: horus clean leaves a pool in use alone
        self._mem = mmap.mmap(self._fd, 0)
        # Another process truncating the pool grows it back (its header too) rather than killing this
        # one with SIGBUS wherever it reads a tensor: the core's shrink guard (csrc/segment.c).
        self._guard = _core.ShmGuard(self._fd, self._mem, _HEADER.size)
        magic, self._size, self._slots = _HEADER.unpack_from(self._mem, 0)
        self._data = _data_start(self._slots)
        if magic != MAGIC or self._slots > MAX_SLOTS or len(self._mem) != self._data + self._size:
            raise TopicCorruptError(f"{path} is not a tensor pool this HORUS can read: `horus clean --shm` removes it")
        self._lock = threading.Lock()

    @property
    def pool_id(self) -> int:
        return self._pool_id

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, 0)
            try:
                yield
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)

    def _slot(self, index: int) -> tuple[int, int, int, int]:
        offset, nbytes, refs, generation = _SLOT.unpack_from(self._mem, _HEADER.size + index * _SLOT.size)
        if refs and offset + nbytes > self._size:
            raise TopicCorruptError(f"tensor pool {self._pool_id}: slot {index} lies outside the pool")
        return offset, nbytes, refs, generation

    def _set_slot(self, index: int, offset: int, nbytes: int, refs: int, generation: int) -> None:
        _SLOT.pack_into(self._mem, _HEADER.size + index * _SLOT.size, offset, nbytes, refs, generation)

    def alloc(self, shape: Sequence[int], dtype: str = "float32", device: str = "cpu") -> TensorHandle:
        """A new tensor of `shape` and `dtype` in the pool (its bytes are not cleared)."""
        if device != "cpu":
            raise NotImplementedError(f"device={device!r}: CUDA is not provided by this HORUS runtime; use 'cpu'")
        dims, code = _checked_shape(shape), _dtype_code(dtype)
        nbytes = math.prod(dims) * np.dtype(dtype).itemsize
        with self._locked():
            slots = [self._slot(i) for i in range(self._slots)]
            free = next((i for i, s in enumerate(slots) if s[2] == 0), None)
            if free is None:
                raise HorusError(f"tensor pool {self._pool_id}: all {self._slots} slots are in use; release handles")
            offset = _first_fit(sorted((s[0], s[0] + s[1]) for s in slots if s[2]), nbytes, self._size)
            if offset is None:
                raise HorusError(
                    f"tensor pool {self._pool_id}: no room for {nbytes} bytes in {self._size >> 20} MB; "
                    "release handles or make the pool bigger (size_mb=)"
                )
            generation = (slots[free][3] + 1) & 0xFFFFFFFF
            self._set_slot(free, offset, nbytes, 1, generation)
        return TensorHandle(self, free, generation, offset, dims, code)

    def stats(self) -> dict[str, Any]:
        with self._locked():
            live = [s for s in (self._slot(i) for i in range(self._slots)) if s[2]]
        used = sum(s[1] for s in live)
        return {"pool_id": self._pool_id, "pool_size": self._size, "max_slots": self._slots,
                "allocated_slots": len(live), "total_refcount": sum(s[2] for s in live),
                "used_bytes": used, "free_bytes": self._size - used}  # fmt: skip

    def _acquire(self, slot: int, generation: int, offset: int, nbytes: int) -> None:
        """Take a reference on a live slot that holds [offset, offset + nbytes); refuse anything else."""
        with self._locked():
            start, size, refs, live_generation = self._slot(slot)
            if not refs or live_generation != generation:
                raise HorusError(f"tensor pool {self._pool_id}: slot {slot} was released (a stale descriptor)")
            if not start <= offset <= offset + nbytes <= start + size:
                raise HorusError(f"tensor pool {self._pool_id}: a descriptor out of its slot's bounds")
            self._set_slot(slot, start, size, refs + 1, generation)

    def _release(self, slot: int, generation: int) -> None:
        with self._locked():
            start, size, refs, live_generation = self._slot(slot)
            if refs and live_generation == generation:
                self._set_slot(slot, start, size, refs - 1, generation)

    def _refcount(self, slot: int, generation: int) -> int:
        with self._locked():
            _, _, refs, live_generation = self._slot(slot)
        return refs if live_generation == generation else 0

    def _array(self, offset: int, dims: list[int], code: int) -> np.ndarray[Any, Any]:
        return np.ndarray(dims, dtype=DTYPES[code], buffer=self._mem, offset=self._data + offset)


class TensorHandle:
    """One reference to a tensor in a TensorPool."""

    def __init__(self, pool: TensorPool, slot: int, generation: int, offset: int, dims: list[int], code: int) -> None:
        self._pool, self._slot, self._generation = pool, slot, generation
        self._offset, self._dims, self._code = offset, dims, code
        self._released = False

    @staticmethod
    def from_descriptor(pool_id: int, descriptor_bytes: bytes) -> TensorHandle:
        """The tensor another process described with to_descriptor(), with a reference of its own."""
        data = bytes(descriptor_bytes)
        if len(data) < _DESC.size:
            raise HorusError(f"a tensor descriptor is at least {_DESC.size} bytes, got {len(data)}")
        magic, pid, slot, generation, offset, code, ndim = _DESC.unpack_from(data)
        if magic != _DESC_MAGIC or pid != pool_id or code >= len(DTYPES) or ndim > MAX_DIMS:
            raise HorusError(f"not a descriptor of tensor pool {pool_id} (pool {pid}, dtype {code}, {ndim} dims)")
        if len(data) != _DESC.size + 8 * ndim:
            raise HorusError(f"a tensor descriptor of {ndim} dims is {_DESC.size + 8 * ndim} bytes, got {len(data)}")
        dims = list(struct.unpack_from(f"<{ndim}Q", data, _DESC.size))
        pool = TensorPool(pool_id)
        if slot >= pool._slots:
            raise HorusError(f"tensor pool {pool_id} has {pool._slots} slots, the descriptor names slot {slot}")
        pool._acquire(slot, generation, offset, math.prod(dims) * np.dtype(DTYPES[code]).itemsize)
        return TensorHandle(pool, slot, generation, offset, dims, code)

    def to_descriptor(self) -> bytes:
        head = _DESC.pack(_DESC_MAGIC, self._pool.pool_id, self._slot, self._generation, self._offset, self._code,
                          len(self._dims))  # fmt: skip
        return head + struct.pack(f"<{len(self._dims)}Q", *self._dims)

    @property
    def shape(self) -> list[int]:
        return list(self._dims)

    @property
    def dtype(self) -> str:
        return DTYPES[self._code]

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def numel(self) -> int:
        return math.prod(self._dims)

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize

    @property
    def refcount(self) -> int:
        """References every process holds on this tensor's slot."""
        return self._pool._refcount(self._slot, self._generation)

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self.numpy().__array_interface__

    def is_cpu(self) -> bool:
        return True

    def is_cuda(self) -> bool:
        return False

    def is_contiguous(self) -> bool:
        return True

    def numpy(self) -> np.ndarray[Any, Any]:
        """The tensor's memory in the pool as a numpy array (no copy)."""
        if self._released:
            raise HorusError("this TensorHandle was released")
        return self._pool._array(self._offset, self._dims, self._code)

    def torch(self) -> Any:
        import torch

        return torch.from_numpy(self.numpy())

    def slice(self, start: int, end: int) -> TensorHandle:
        """Rows [start, end) of the first dimension, sharing the memory (a reference of its own)."""
        if not self._dims or not 0 <= start <= end <= self._dims[0]:
            raise IndexError(f"slice({start}, {end}) of a tensor of shape {self._dims}")
        row = self.nbytes // self._dims[0] if self._dims[0] else 0
        return self._share(self._offset + start * row, [end - start, *self._dims[1:]])

    def view(self, new_shape: Sequence[int]) -> TensorHandle:
        """The same memory in another shape of as many elements (a reference of its own)."""
        dims = _checked_shape(new_shape)
        if math.prod(dims) != self.numel:
            raise ValueError(f"view({dims}): {math.prod(dims)} elements, the tensor has {self.numel}")
        return self._share(self._offset, dims)

    def _share(self, offset: int, dims: list[int]) -> TensorHandle:
        self._pool._acquire(self._slot, self._generation, offset, math.prod(dims) * np.dtype(self.dtype).itemsize)
        return TensorHandle(self._pool, self._slot, self._generation, offset, dims, self._code)

    def cpu(self) -> TensorHandle:
        return self

    def cuda(self, device: str = "cuda:0") -> TensorHandle:
        raise NotImplementedError(f"cuda({device!r}): CUDA is not provided by this HORUS runtime")

    def release(self) -> None:
        """Give back this handle's reference (again: nothing)."""
        if not self._released:
            self._released = True
            self._pool._release(self._slot, self._generation)

    def __del__(self) -> None:
        if not getattr(self, "_released", True):
            self.release()

    def __repr__(self) -> str:
        return f"TensorHandle(shape={self._dims}, dtype={self.dtype!r}, pool={self._pool.pool_id}, slot={self._slot})"


def _data_start(slots: int) -> int:
    return -(-(_HEADER.size + slots * _SLOT.size) // mmap.PAGESIZE) * mmap.PAGESIZE


def _create(path: Path, size: int, slots: int) -> None:
    """Make the pool file whole under a temporary name, then link it into place (the first creator wins)."""
    tmp = path.with_name(f".new.{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, _data_start(slots) + size)
        os.pwrite(fd, _HEADER.pack(MAGIC, size, slots), 0)
        with suppress(FileExistsError):  # another process made it first: theirs is the pool
            os.link(tmp, path)
    finally:
        os.close(fd)
        os.unlink(tmp)


def _first_fit(used: list[tuple[int, int]], nbytes: int, size: int) -> int | None:
    at = 0
    for start, end in used:
        if at + nbytes <= start:
            return at
        at = max(at, -(-end // ALIGN) * ALIGN)
    return at if at + nbytes <= size else None


def _checked_shape(shape: Sequence[int]) -> list[int]:
    dims = [int(d) for d in shape]
    if len(dims) > MAX_DIMS or any(d < 0 for d in dims):
        raise ValueError(f"a tensor shape is up to {MAX_DIMS} sizes >= 0, got {list(shape)}")
    return dims


def _dtype_code(dtype: str) -> int:
    if dtype not in DTYPES:
        raise TypeError(f"TensorPool dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return DTYPES.index(dtype)
