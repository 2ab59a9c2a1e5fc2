"""horus.TensorPool: tensors in shared memory, handed between processes as descriptors, never copied."""

from __future__ import annotations

import struct

import horus
import numpy as np
import pytest
from horus import HorusError
from horus_procs import Py, wait_line

# A camera process: one frame in the pool, its descriptor on a topic; it reads the frame again on request.
CAMERA = """
import sys, horus, numpy as np
pool = horus.TensorPool(pool_id=7, size_mb=4, max_slots=8)
frame = pool.alloc([4, 3], dtype="float32")
frame.numpy()[:] = np.arange(12).reshape(4, 3)
horus.Topic("frames").send(frame.to_descriptor())
print("sent", flush=True)
sys.stdin.readline()
print(frame.numpy()[0, 0], frame.refcount, flush=True)
"""


def test_a_tensor_crosses_processes_as_a_descriptor_and_is_shared_not_copied(ns: str, py: Py) -> None:
    frames = horus.Topic("frames")
    camera = py.start(CAMERA, stdin=-1)
    wait_line(camera, "sent")
    frame = horus.TensorHandle.from_descriptor(7, frames.recv(timeout=10))
    assert frame.shape == [4, 3] and frame.dtype == "float32"
    assert frame.numpy().tolist() == np.arange(12, dtype=np.float32).reshape(4, 3).tolist()
    frame.numpy()[0, 0] = 42.0  # the camera's own array sees it
    out, _ = camera.communicate("go\n", timeout=30)
    assert out.split()[-2:] == ["42.0", "2"]  # both processes held a reference
    pool = horus.TensorPool(7)
    assert pool.stats()["total_refcount"] == 1  # the camera gave its reference back as it exited
    frame.release()
    assert pool.stats()["allocated_slots"] == 0  # and the slot is free again


def test_a_plain_tensor_shares_its_memory_once_described_as_upstreams_do(ns: str, py: Py) -> None:
    tensor = horus.Tensor.from_numpy(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert tensor.refcount == 1
    receiver = py.start(
        """
import sys, horus
t = horus.Tensor.from_descriptor(1, bytes.fromhex(sys.stdin.readline()))
print(t.shape, t.numpy().sum(), flush=True)
sys.stdin.readline()
print(t.numpy()[0, 0], flush=True)
""",
        stdin=-1,
    )
    assert receiver.stdin is not None
    receiver.stdin.write(tensor.to_descriptor().hex() + "\n")
    receiver.stdin.flush()
    wait_line(receiver, "[2, 3] 15.0")
    assert tensor.refcount == 2  # the receiver holds the slot too
    tensor.numpy()[0, 0] = 100.0  # written after sharing: the receiver sees it
    out, _ = receiver.communicate("go\n", timeout=30)
    assert out.split()[-1] == "100.0"
    assert tensor.to_descriptor() == tensor.to_descriptor()  # described again, not moved again
    tensor.release()
    assert horus.TensorPool(1).stats()["allocated_slots"] == 0


def test_descriptors_that_do_not_match_a_live_tensor_are_refused(ns: str) -> None:
    pool = horus.TensorPool(pool_id=3, size_mb=1, max_slots=4)
    frame = pool.alloc([16], dtype="uint8")
    good = frame.to_descriptor()
    grid = frame.view([4, 4])
    rows = grid.slice(1, 3)
    assert rows.shape == [2, 4] and frame.refcount == 3
    rows.numpy()[:] = 9
    assert frame.numpy()[4:12].tolist() == [9] * 8  # the same memory
    del grid  # a dropped handle gives its reference back
    assert frame.refcount == 2

    forged = bytearray(good)
    struct.pack_into("<Q", forged, 16, 1 << 40)  # the offset: far outside the slot
    with pytest.raises(HorusError, match="out of its slot's bounds"):
        horus.TensorHandle.from_descriptor(3, bytes(forged))
    with pytest.raises(HorusError, match="not a descriptor of tensor pool 4"):
        horus.TensorHandle.from_descriptor(4, good)
    with pytest.raises(HorusError, match="at least"):
        horus.TensorHandle.from_descriptor(3, b"HTD1")
    frame.release()
    rows.release()
    with pytest.raises(HorusError, match="released"):
        horus.TensorHandle.from_descriptor(3, good)  # the slot is free: a stale descriptor
    with pytest.raises(HorusError, match="no room for"):
        pool.alloc([2 << 20], dtype="uint8")
    with pytest.raises(NotImplementedError, match="CUDA is not provided"):
        pool.alloc([4], device="cuda:0")
