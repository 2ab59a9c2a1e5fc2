"""horus.Tensor: upstream's array type over numpy: views, not copies; new tensors from operations."""

from __future__ import annotations

import subprocess
import sys

import horus
import numpy as np
import pytest


def test_numpy_views_share_the_tensor_memory() -> None:
    grid = horus.Tensor([4, 5], dtype="int8")
    assert (grid.shape, grid.dtype, grid.nbytes, grid.numel, len(grid)) == ([4, 5], "int8", 20, 20, 4)
    grid.numpy()[1, 2] = -1
    grid[3] = 7
    assert np.asarray(grid)[1, 2] == -1 and grid.numpy()[3].tolist() == [7] * 5
    flat = grid.flatten()
    flat[0] = 5  # a reshape shares memory too
    assert grid[0, 0] == 5 and grid.reshape(2, 10).shape == [2, 10] and grid.unsqueeze(0).shape == [1, 4, 5]


def test_operations_return_new_tensors_and_from_numpy_copies() -> None:
    src = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    t = horus.Tensor.from_numpy(src)
    src[0, 0] = 100.0
    assert t[0, 0] == 1.0
    assert ((t + 1) * 2).numpy().tolist() == [[4.0, 6.0], [8.0, 10.0]] and (t > 2).dtype == "bool"
    assert t.sum(dim=0).numpy().tolist() == [4.0, 6.0] and t.max().numpy().tolist() == [4.0]
    assert t.to_int32().dtype == "int32" and t.half().dtype == "float16"
    with pytest.raises(ValueError, match="dtype 'complex64' is not one of"):
        horus.Tensor([2], dtype="complex64")


def test_a_released_tensor_says_so() -> None:
    t = horus.Tensor([10])
    t.release()
    assert repr(t) == "Tensor(released)"
    with pytest.raises(RuntimeError, match="released"):
        t.numpy()


def test_horus_imports_without_numpy() -> None:
    code = "import sys; sys.modules['numpy'] = None; import horus; print(horus.Node.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "Node\n", done.stderr
