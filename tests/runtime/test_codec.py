"""The payload format: what a node can send arrives equal, and nothing else can be sent."""

from __future__ import annotations

import enum
import math
import pickle
import random
from typing import Any

import horus
import numpy as np
import pytest
from horus import DecodeError, EncodeError, _core
from horus.messaging import codec


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


# What a hot loop sends, which horus._core encodes and decodes in C (csrc/pycodec.c), and what it
# leaves to codec.py: both must give the same bytes and the same values as codec.py alone.
FAST = [
    None,
    [True, False, 0, -1, 2**63 - 1, -(2**63), 3.25, -0.0, float("inf")],
    {"x": 1.5, "ok": True, "name": "héllo ✓", "raw": b"\x00\xff" * 9, 7: "int key", (1, 2): "tuple key"},
    [[1, [2, [3, None]]], (1, "a", (2.5,)), {}, [], ()],
    horus.Pose3D(1.0, 2.0, 3.0, 0.0, 0.0, 0.7071, 0.7071, 123456789),
    horus.CmdVel(0.5, -0.25, 7),
    {"scan": horus.LaserScan(ranges=[float(i) for i in range(360)], angle_increment=0.01), "imu": horus.Imu()},
    horus.EmergencyStop(True, "über-temperature ✓", 42, "safety"),  # texts: str[N] fields
    horus.JointState(names=["shoulder", "épaule"], positions=[0.5, -1.25], velocities=[1.0]),  # bounded lists
]
SLOW = [
    2**70,  # a big int: I
    "lone \udc80 surrogate",
    b"\x01" * 5000,  # past the C encoder's 4 KiB
    np.arange(6, dtype=np.float32),
    {"stereo": horus.StereoInfo()},  # nested messages
    [enum.IntEnum("Mode", "AUTO")(1)],  # a subclass: sent as its base type by codec.py
]


def python_payload(value: object) -> bytes:
    return b"".join(bytes(p) for p in codec.encode(value))


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, horus.Message):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in a.FIELDS)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@pytest.mark.parametrize(("value", "in_c"), [(v, True) for v in FAST] + [(v, False) for v in SLOW])
def test_the_c_fast_path_writes_the_reference_bytes_or_leaves_the_value_to_python(value: object, in_c: bool) -> None:
    assert (_core.encode(value) is not None) == in_c, "what a hot loop sends is encoded in C, and only that"
    assert codec.encode_bytes(value) == python_payload(value)


def reference(payload: bytes) -> object:
    try:
        return codec.decode_in_python(payload)
    except DecodeError as exc:
        return exc


def test_the_c_fast_path_decodes_as_the_reference_does_and_declines_the_rest() -> None:
    """Every payload (valid, cut short, with bytes changed, made up) decodes in C to what codec.py
    gives, or is left to codec.py: then a payload codec.py refuses is refused."""
    rng = random.Random(29)
    payloads = [python_payload(v) for v in FAST + SLOW]
    hostile = [
        b"l\xff\xff\xff\xffN",  # a count far beyond the bytes there
        b"d\xff\xff\xff\x7fNN",
        b"l\x01\x00\x00\x00" * 70 + b"N",  # nested deeper than codec.py allows
        b"s\x02\x00\x00\x00\xc3\x28",  # not UTF-8
        b"d\x01\x00\x00\x00l\x00\x00\x00\x00N",  # an unhashable key
    ]
    corpus = payloads + hostile
    for payload in payloads:
        corpus += [payload[:cut] for cut in range(len(payload))][:300]
        for _ in range(200):
            changed = bytearray(payload)
            for _ in range(rng.randint(1, 3)):
                changed[rng.randrange(len(changed))] = rng.randrange(256)
            corpus.append(bytes(changed))
    corpus += [rng.randbytes(rng.randint(1, 40)) for _ in range(2000)]
    decoded = 0
    for payload in corpus:
        fast, ref = _core.decode(payload), reference(payload)
        if fast is NotImplemented:
            continue
        decoded += 1
        assert not isinstance(ref, DecodeError), f"C decoded a payload codec.py refuses: {payload!r} ({ref})"
        assert same(fast, ref), f"{payload!r}: C gave {fast!r}, codec.py {ref!r}"
    assert decoded > len(corpus) // 10  # the fast path is taken, not declined across the board


def test_a_typed_message_changed_in_place_is_checked_as_it_is_sent() -> None:
    scan = horus.LaserScan()
    scan.ranges[0] = 1e300  # a list item is not checked when set: packing it must refuse it
    with pytest.raises(OverflowError, match="float too large"):
        codec.encode_bytes(scan)
    scan.ranges[0] = "far"
    with pytest.raises(Exception, match="required argument is not a float"):
        codec.encode_bytes(scan)
