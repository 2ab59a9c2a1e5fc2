"""horus.Tensor as upstream HORUS has it, over numpy, and on topics between processes."""

from __future__ import annotations

import horus
import numpy as np
import pytest
from horus.messaging import codec
from horus_procs import Py, go, wait_line


def test_a_tensor_is_a_numpy_array_with_upstreams_names() -> None:
    t = horus.Tensor([2, 3], dtype="int16")
    assert (t.shape, t.dtype, t.nbytes, t.numel, len(t)) == ([2, 3], "int16", 12, 6, 2)
    t.numpy()[1, 2] = 7  # a view: the tensor sees it
    assert t[1, 2] == 7 and repr(t) == "Tensor(shape=[2, 3], dtype=int16)"
    src = np.arange(6, dtype=np.float32)
    copied = horus.Tensor.from_numpy(src)
    src[0] = 100.0
    assert copied[0] == 0.0  # from_numpy copies, as upstream does
    assert (copied.reshape(2, 3) + 1).numpy().tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert (copied > 2).dtype == "bool" and copied.sum().numpy()[0] == 15.0
    assert copied.to_uint8().dtype == "uint8" and copied.unsqueeze(0).shape == [1, 6]
    with pytest.raises(TypeError, match="Tensor dtype 'complex64' is not one of"):
        horus.Tensor([1], dtype="complex64")
    copied.release()
    assert repr(copied) == "Tensor(released)"
    with pytest.raises(RuntimeError, match="released"):
        _ = copied.shape


def test_a_tensor_comes_back_a_tensor_over_the_received_bytes() -> None:
    frame = horus.Tensor.from_numpy(np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    buf = bytearray(codec.encode_bytes({"frame": frame, "seq": 1}))
    got = codec.decode(buf)["frame"]
    assert type(got) is horus.Tensor and got.shape == [480, 640, 3]
    assert np.array_equal(got.numpy(), frame.numpy())
    # No copy on the way out of the receive buffer: the tensor's memory is the buffer's.
    assert np.shares_memory(got.numpy(), np.frombuffer(buf, dtype=np.uint8))


PUBLISHER = """
import sys, numpy as np, horus
t = horus.Topic("camera.depth", max_msg_size=640 * 480 * 4)
print("ready", flush=True)
sys.stdin.readline()
t.send(horus.Tensor.from_numpy(np.full((480, 640), 1.5, dtype=np.float32)))
print("done", flush=True)
"""


def test_a_tensor_crosses_processes_on_a_topic(ns: str, py: Py) -> None:
    sub = horus.Topic("camera.depth", max_msg_size=640 * 480 * 4)
    pub = py.start(PUBLISHER, stdin=-1)
    wait_line(pub, "ready")
    go(pub)
    got = sub.recv(timeout=10)
    wait_line(pub, "done")
    assert type(got) is horus.Tensor and got.shape == [480, 640] and float(got.numpy().mean()) == 1.5
