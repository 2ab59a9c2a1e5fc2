"""The topic payload format: plain data and numpy arrays, never pickle.

A process that can write a topic must not be able to run code in its readers,
so the decoder only ever builds the value types listed below; there is no
hook, class lookup or eval anywhere in it. Format 1 (the topic header's
`format` field) is a tagged, little-endian encoding:

    N  None             T / F  True / False
    i  int64            I      big int: u32 byte count, signed little-endian bytes
    f  float64          s      str: u32 byte count, UTF-8
    b  bytes: u32 count, raw   l / t  list / tuple: u32 count, items
    d  dict: u32 count, key-value pairs
    M  typed message (horus.messaging.messages): u32 type id, u64 layout hash, the message's C layout
       (its SIZE bytes, csrc/horus_msgs.h); a receiver refuses an unknown type or another layout
    a  numpy array: u8 dtype-string length, dtype string (e.g. "<f4"), u8 ndim,
       u64 per dimension, u64 byte count, zero padding to a 16-byte boundary, raw
       C-order data
    X  horus.Tensor: an `a` array, received as a Tensor over it
    G  horus.Image / DepthImage / PointCloud / OccupancyGrid / CompressedImage: u8 kind (1 to 5), a `d` dict of its
       metadata (encoding, frame_id, timestamp_ns, ...), an `a` array; received as that class over it

Large buffers (arrays, long bytes) are handed to the publisher as separate
parts, so they are copied once, straight into shared memory.

This module is the format's reference. The C fast paths of horus._core (csrc/pycodec.c)
encode and decode what a hot loop sends (small plain data, typed messages of numbers and texts) to
the same bytes and values, and leave everything else, malformed payloads included, to
the Python code here; Topic.send and Topic.recv try them first, and so do
`encode_bytes` and `decode`.
"""

from __future__ import annotations

import struct
from typing import Any, cast

from .. import _core
from ..errors import DecodeError, EncodeError
from .message import Message, message_type

FORMAT_ID = 1

# Buffers at least this long travel as their own part instead of being copied into the header.
_ZERO_COPY_MIN = 2048
_ALIGN = 16
_MAX_DEPTH = 64
# Dict keys whose hashes a sender can steer into collisions (floats, tuples, ints beyond the
# range that hashes to itself) make building the dict quadratic; a message may carry this
# many per dict. str and bytes hash with this process's random seed, an int in
# [-_SELF_HASHING, _SELF_HASHING] hashes to itself: those are unlimited.
_MAX_STEERABLE_KEYS = 256
_SELF_HASHING = 2**61 - 2

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")

try:  # numpy is optional: without it, arrays (and horus.Tensor) are simply not a supported type
    import numpy as _np

    from .frames import Frame as _Frame
    from .tensor import Tensor as _Tensor
except ImportError:  # pragma: no cover - exercised on robots without numpy
    _np = None  # type: ignore[assignment]
    _Tensor = None  # type: ignore[assignment,misc]
    _Frame = None  # type: ignore[assignment,misc]


class _Writer:
    """Accumulates small fields in one bytearray and large buffers as separate parts."""

    __slots__ = ("cur", "parts", "size")

    def __init__(self) -> None:
        self.cur = bytearray()
        self.parts: list[Any] = []
        self.size = 0

    def big(self, buf: Any, nbytes: int) -> None:
        if self.cur:
            self.parts.append(self.cur)
            self.size += len(self.cur)
            self.cur = bytearray()
        self.parts.append(buf)
        self.size += nbytes

    def offset(self) -> int:
        return self.size + len(self.cur)

    def finish(self) -> list[Any]:
        if self.cur or not self.parts:
            self.parts.append(self.cur)
        return self.parts


def encode(value: Any) -> list[Any]:
    """Encode `value` as a list of buffers whose concatenation is the payload."""
    w = _Writer()
    _enc(w, value, 0)
    return w.finish()


def encode_bytes(value: Any) -> bytes:
    """The payload as one bytes object (for tools: recording, replay; publishing uses `encode`)."""
    payload = _core.encode(value)
    return payload if payload is not None else b"".join(bytes(p) for p in encode(value))


def _enc(w: _Writer, v: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise EncodeError(f"message nests deeper than {_MAX_DEPTH} levels (is it self-referencing?)")
    t = type(v)
    if v is None:
        w.cur += b"N"
    elif t is bool:
        w.cur += b"T" if v else b"F"
    elif t is int:
        if -(2**63) <= v < 2**63:
            w.cur += b"i" + _I64.pack(v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            w.cur += b"I" + _U32.pack(len(raw)) + raw
    elif t is float:
        w.cur += b"f" + _F64.pack(v)
    elif t is str:
        raw = v.encode("utf-8", "surrogatepass")
        w.cur += b"s" + _U32.pack(len(raw)) + raw
    elif t is bytes or t is bytearray or t is memoryview:
        _enc_bytes(w, v)
    elif t is list or t is tuple:
        w.cur += (b"l" if t is list else b"t") + _U32.pack(len(v))
        for item in v:
            _enc(w, item, depth + 1)
    elif t is dict:
        w.cur += b"d" + _U32.pack(len(v))
        for key, item in v.items():
            _enc(w, key, depth + 1)
            _enc(w, item, depth + 1)
    elif isinstance(v, Message):
        w.cur += b"M" + _U32.pack(v.TYPE_ID) + _U64.pack(v.LAYOUT_HASH) + v.to_bytes()
    elif _np is not None and isinstance(v, _np.ndarray):
        _enc_array(w, v)
    elif _Tensor is not None and isinstance(v, _Tensor):
        w.cur += b"X"
        _enc_array(w, v.array)
    elif _Frame is not None and isinstance(v, _Frame):
        w.cur += b"G" + bytes((v.KIND,))
        _enc(w, v.meta(), depth + 1)
        _enc_array(w, v.to_numpy())
    elif _np is not None and isinstance(v, _np.generic):
        _enc(w, v.item(), depth)
    else:
        _enc_subclass(w, v, depth)


def _enc_subclass(w: _Writer, v: Any, depth: int) -> None:
    """Subclasses of the plain types (IntEnum, OrderedDict, namedtuple) travel as their base type."""
    for base in (bool, int, float, str, bytes, dict, tuple, list):
        if isinstance(v, base):
            plain: Any = base(cast(Any, v))
            _enc(w, plain, depth)
            return
    raise EncodeError(
        f"cannot send a {type(v).__module__}.{type(v).__qualname__}: topics carry dict, list, tuple, str, "
        "bytes, int, float, bool, None and numpy arrays (convert it, e.g. to a dict)"
    )


def _enc_bytes(w: _Writer, v: bytes | bytearray | memoryview) -> None:
    view = memoryview(v).cast("B") if isinstance(v, memoryview) else v
    n = len(view)
    w.cur += b"b" + _U32.pack(n)
    if n >= _ZERO_COPY_MIN:
        w.big(view, n)
    else:
        w.cur += view


def _enc_array(w: _Writer, a: Any) -> None:
    if a.dtype.hasobject:
        raise EncodeError("cannot send a numpy array of dtype=object: it would need pickle")
    if a.dtype.fields is not None or a.dtype.subdtype is not None:
        raise EncodeError(f"cannot send a numpy array of structured dtype {a.dtype}: send plain arrays")
    if a.ndim > 32:
        raise EncodeError(f"cannot send a numpy array with {a.ndim} dimensions (max 32)")
    dt = a.dtype.str.encode("ascii")
    a = _np.ascontiguousarray(a)
    w.cur += b"a" + bytes((len(dt),)) + dt + bytes((a.ndim,))
    for dim in a.shape:
        w.cur += _U64.pack(dim)
    w.cur += _U64.pack(a.nbytes)
    w.cur += bytes(-(w.offset()) % _ALIGN)
    if a.nbytes >= _ZERO_COPY_MIN:
        w.big(a.reshape(-1).view(_np.uint8), a.nbytes)
    else:
        w.cur += a.tobytes()


def decode(buf: bytearray | bytes) -> Any:
    """Decode one payload. Arrays are views into `buf` (writable when `buf` is a bytearray)."""
    value = _core.decode(buf)
    return value if value is not NotImplemented else decode_in_python(buf)


def decode_in_python(buf: bytearray | bytes) -> Any:
    """`decode` without the C fast path: for a payload it declined already (Topic.recv), and the reference."""
    try:
        value, end = _dec(buf, 0, 0)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DecodeError(f"malformed HORUS message ({len(buf)} bytes): {exc}") from None
    if end != len(buf):
        raise DecodeError(f"malformed HORUS message: {len(buf) - end} trailing bytes")
    return value


def _dec(b: bytearray | bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise ValueError("nesting too deep")
    tag = b[pos]
    pos += 1
    if tag == 0x4E:  # N
        return None, pos
    if tag == 0x54:  # T
        return True, pos
    if tag == 0x46:  # F
        return False, pos
    if tag == 0x69:  # i
        return _I64.unpack_from(b, pos)[0], pos + 8
    if tag == 0x66:  # f
        return _F64.unpack_from(b, pos)[0], pos + 8
    if tag in (0x73, 0x62, 0x49):  # s b I
        n = _U32.unpack_from(b, pos)[0]
        pos += 4
        end = pos + n
        if end > len(b):
            raise ValueError("length past end")
        raw = bytes(memoryview(b)[pos:end])  # one copy (slicing a bytearray first would make two)
        if tag == 0x73:
            return raw.decode("utf-8", "surrogatepass"), end
        if tag == 0x62:
            return raw, end
        return int.from_bytes(raw, "little", signed=True), end
    if tag in (0x6C, 0x74):  # l t
        n = _U32.unpack_from(b, pos)[0]
        pos += 4
        items = []
        for _ in range(n):
            item, pos = _dec(b, pos, depth + 1)
            items.append(item)
        return (items if tag == 0x6C else tuple(items)), pos
    if tag == 0x64:  # d
        n = _U32.unpack_from(b, pos)[0]
        pos += 4
        out = {}
        steerable = 0
        for _ in range(n):
            key, pos = _dec(b, pos, depth + 1)
            if type(key) is not str and _steerable(key):  # str, the common key, needs no look
                steerable += 1
                if steerable > _MAX_STEERABLE_KEYS:
                    raise ValueError(f"a dict with more than {_MAX_STEERABLE_KEYS} float, tuple or huge int keys")
            out[key], pos = _dec(b, pos, depth + 1)
        return out, pos
    if tag == 0x61:  # a
        return _dec_array(b, pos)
    if tag == 0x58 and _Tensor is not None and b[pos] == 0x61:  # X: a horus.Tensor, its array follows
        array, pos = _dec_array(b, pos + 1)
        return _Tensor._over(array), pos
    if tag == 0x47 and _Frame is not None:  # G: Image, DepthImage or PointCloud
        return _dec_frame(b, pos, depth)
    if tag == 0x4D:  # M
        return _dec_message(b, pos)
    raise ValueError(f"unknown tag {tag:#x} at offset {pos - 1}")


def _dec_message(b: bytearray | bytes, pos: int) -> tuple[Message, int]:
    type_id = _U32.unpack_from(b, pos)[0]
    layout = _U64.unpack_from(b, pos + 4)[0]
    cls = message_type(type_id)
    if cls is None:
        raise ValueError(f"a typed message of type id {type_id:#010x}, which this process does not know")
    if layout != cls.LAYOUT_HASH:
        raise ValueError(
            f"a {cls.__name__} of another layout (hash {layout:#018x}, here {cls.LAYOUT_HASH:#018x}): the sender "
            "was built from another messages.toml; run one HORUS version on both ends"
        )
    start = pos + 12
    if start + cls.SIZE > len(b):
        raise ValueError(f"{cls.__name__} past end")
    return cls.from_bytes(memoryview(b)[start : start + cls.SIZE]), start + cls.SIZE


def _dec_frame(b: bytearray | bytes, pos: int, depth: int) -> tuple[Any, int]:
    kind = b[pos]
    meta, pos = _dec(b, pos + 1, depth + 1)
    if type(meta) is not dict or b[pos] != 0x61:
        raise ValueError("a frame is its metadata (a dict) and an array")
    array, pos = _dec_array(b, pos + 1)
    return _Frame.restore(kind, array, meta), pos


def decode_into(buf: bytearray, length: int, msg: Message) -> None:
    """Fill `msg` in place from buf[:length], a payload holding one message of its class (what
    Topic.recv_into reads). DecodeError, `msg` unchanged, when the payload is anything else."""
    cls = type(msg)
    header = 1 + _U32.size + _U64.size
    if (
        length == header + cls.SIZE
        and buf[0] == 0x4D  # M
        and _U32.unpack_from(buf, 1)[0] == cls.TYPE_ID
        and _U64.unpack_from(buf, 5)[0] == cls.LAYOUT_HASH
    ):
        try:
            msg.fill_from(buf, header)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecodeError(f"malformed HORUS message ({length} bytes): {exc}") from None
        return
    got = decode(bytes(buf[:length]))  # the DecodeError of an unknown type or another layout
    raise DecodeError(
        f"recv_into takes a {cls.__name__}, but the topic's next message is a {type(got).__name__}: "
        f"receive it with recv(), or publish {cls.__name__} only on this topic"
    )


def _steerable(key: Any) -> bool:
    t = type(key)
    if t is str or t is bytes or t is bool or key is None:
        return False
    return not (t is int and -_SELF_HASHING <= key <= _SELF_HASHING)


def _dec_array(b: bytearray | bytes, pos: int) -> tuple[Any, int]:
    n = b[pos]
    dtype_str = bytes(b[pos + 1 : pos + 1 + n]).decode("ascii")
    pos += 1 + n
    ndim = b[pos]
    pos += 1
    shape = struct.unpack_from(f"<{ndim}Q", b, pos)
    pos += 8 * ndim
    nbytes = _U64.unpack_from(b, pos)[0]
    pos += 8
    pos += -pos % _ALIGN
    if pos + nbytes > len(b):
        raise ValueError("array data past end")
    if _np is None:
        raise DecodeError("received a numpy array but numpy is not installed: pip install numpy")
    dtype = _np.dtype(dtype_str)
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"refusing dtype {dtype_str}")
    count = nbytes // dtype.itemsize if dtype.itemsize else 0
    arr = _np.frombuffer(b, dtype=dtype, count=count, offset=pos).reshape(shape)
    return arr, pos + nbytes
