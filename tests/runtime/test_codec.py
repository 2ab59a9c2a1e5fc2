"""The payload format: what a node can send arrives equal, and nothing else can be sent."""

from __future__ import annotations

import enum
import pickle

import numpy as np
import pytest
from horus import DecodeError, EncodeError, codec


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**200,
        -(2**70),
        3.25,
        float("inf"),
        "",
        "héllo ✓",
        b"",
        b"\x00\xff" * 5000,
        [1, [2, [3, None]]],
        (1, "a", (2.5,)),
        {"rss_mb": 12.5, "pid": 4242, 7: "int key", (1, 2): "tuple key"},
    ],
)
def test_plain_values_round_trip(value: object) -> None:
    assert codec.decode(bytearray(codec.encode_bytes(value))) == value


def test_tuple_and_list_stay_distinct() -> None:
    out = codec.decode(bytearray(codec.encode_bytes({"t": (1, 2), "l": [1, 2]})))
    assert type(out["t"]) is tuple and type(out["l"]) is list


@pytest.mark.parametrize("dtype", ["uint8", "int16", ">i4", "float32", "float64", "complex64", "bool"])
def test_numpy_arrays_keep_dtype_and_shape(dtype: str) -> None:
    arr = (np.arange(2 * 3 * 4) % 7).astype(dtype).reshape(2, 3, 4)
    out = codec.decode(bytearray(codec.encode_bytes({"a": arr})))["a"]
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_non_contiguous_and_empty_arrays() -> None:
    arr = np.arange(100, dtype=np.int64).reshape(10, 10)[::2, 1::3]
    np.testing.assert_array_equal(codec.decode(bytearray(codec.encode_bytes(arr))), arr)
    empty = np.zeros((0, 3), dtype=np.float32)
    assert codec.decode(bytearray(codec.encode_bytes(empty))).shape == (0, 3)


def test_received_arrays_are_writable() -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    out = codec.decode(bytearray(codec.encode_bytes(frame)))
    out[0, 0, 0] = 255  # a node may post-process a frame in place
    assert out[0, 0, 0] == 255


def test_big_buffers_travel_as_separate_parts() -> None:
    frame = np.ones((480, 640, 3), dtype=np.uint8)
    parts = codec.encode({"frame": frame, "id": 7})
    # The frame is handed over as a view, not copied into the header buffer.
    assert any(memoryview(p).nbytes == frame.nbytes for p in parts)


def test_subclasses_travel_as_their_base_type() -> None:
    class Mode(enum.IntEnum):
        AUTO = 2

    assert codec.decode(bytearray(codec.encode_bytes([Mode.AUTO, np.float32(1.5)]))) == [2, 1.5]


class Pose:
    def __init__(self) -> None:
        self.x = 1.0


@pytest.mark.parametrize("value", [Pose(), {1, 2}, object(), np.array([Pose()], dtype=object), print])
def test_objects_that_would_need_pickle_are_refused(value: object) -> None:
    with pytest.raises(EncodeError, match="cannot send"):
        codec.encode(value)


def test_self_referencing_message_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(EncodeError, match="deeper"):
        codec.encode(loop)


def test_a_pickle_payload_is_never_executed() -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, ("raise SystemExit('pwned')",))

    with pytest.raises(DecodeError):
        codec.decode(bytearray(pickle.dumps(Evil())))


@pytest.mark.parametrize("junk", [b"", b"s\xff\xff\xff\xff", b"Z", b"i\x01", b"l\x02\x00\x00\x00N", b"NN"])
def test_malformed_payloads_are_a_clear_error(junk: bytes) -> None:
    with pytest.raises(DecodeError, match="malformed"):
        codec.decode(bytearray(junk))


def test_dict_keys_built_to_collide_cost_no_more_than_plain_ones() -> None:
    # Every one of these ints hashes to 0: a dict of them is quadratic to build (16,000 took 1.2 s).
    colliding = {i * (2**61 - 1): i for i in range(1, 2_001)}
    with pytest.raises(DecodeError, match="more than 256 float, tuple or huge int keys"):
        codec.decode(bytearray(codec.encode_bytes(colliding)))
    plain = {i: i for i in range(16_000)}  # ints that hash to themselves, and strings: any number
    assert codec.decode(bytearray(codec.encode_bytes(plain))) == plain
    named = {f"k{i}": i for i in range(16_000)}
    assert codec.decode(bytearray(codec.encode_bytes(named))) == named
