"""Topics: named channels in shared memory between any processes of one namespace.

Each `Topic` object is one subscriber (its own read position) and may also
publish. All `Topic` objects of a process share one mapping per segment, so a
process is one publisher however many of its nodes send on a topic.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from .. import _core
from . import codec, namespace
from .message import Message

# What the codec adds around a payload (tags, dtype, shape, alignment): a
# max_msg_size of N bytes means an N-byte array or bytes object fits.
FRAMING = 256
DEFAULT_MAX_MSG_SIZE = 64 * 1024
# recv(timeout=...) spins this long before it sleeps: a reply that comes sooner costs no wake-up.
SPIN_S = 50e-6
# What `backend_type` says: upstream names its transport there; ours is always this one.
BACKEND = "shm_ring"


class _Segment:
    """One mapped topic segment, shared by every Topic object of this process."""

    def __init__(self, ns: str, name: str, slot_size: int, capacity: int, create: bool) -> None:
        _core.ns_prepare(str(namespace.directory(ns)))
        topics = namespace.topics_dir(ns)
        _core.ns_prepare(str(topics))
        self.core = _core.Topic(str(topics), namespace.topic_file(name), slot_size, capacity, codec.FORMAT_ID, create)
        self.users = 0
        self.claimed = False
        self.sent_base = 0  # the head when this process claimed the publisher (Topic.stats)


_lock = threading.Lock()
_segments: dict[tuple[str, str], _Segment] = {}


def _forget_segments_in_child() -> None:
    # A forked child shares the parent's locks on these mappings; it must map
    # afresh rather than act as the parent's publisher.
    global _lock
    _lock = threading.Lock()
    _segments.clear()


os.register_at_fork(after_in_child=_forget_segments_in_child)


def _acquire(ns: str, name: str, slot_size: int, capacity: int, create: bool) -> _Segment:
    with _lock:
        seg = _segments.get((ns, name))
        if seg is None:
            seg = _Segment(ns, name, slot_size, capacity, create)
            _segments[(ns, name)] = seg
        else:
            _check_layout(name, seg, slot_size, capacity)
        seg.users += 1
        return seg


def _check_layout(name: str, seg: _Segment, slot_size: int, capacity: int) -> None:
    from ..errors import TopicLayoutError

    if (slot_size and slot_size != seg.core.slot_size) or (capacity and capacity != seg.core.capacity):
        raise TopicLayoutError(
            f"topic {name!r} is already open in this process with max_msg_size "
            f"{seg.core.slot_size - FRAMING} and capacity {seg.core.capacity}: declare it the same way everywhere"
        )


def _release(ns: str, name: str, seg: _Segment) -> None:
    with _lock:
        seg.users -= 1
        if seg.users == 0 and _segments.get((ns, name)) is seg:
            del _segments[(ns, name)]
            seg.core.close()


def _value(taken: Any) -> Any:
    """What Cursor.take returned, decoded: a bytearray is a payload the C fast path left to codec.py
    (no message decodes to one)."""
    return codec.decode_in_python(taken) if type(taken) is bytearray else taken


class Topic:
    """A topic by name. `send()` publishes; `recv()` returns the next message or None.

    Args (upstream's three first, in its order):
        msg_type: a message class (``Topic(horus.CmdVel)``: the topic its ``__topic_name__``
            names, "cmd_vel") or, for an untyped topic, its name, e.g. "camera.rgb".
        capacity: ring slots (a power of two, default 16); a reader more than this many
            messages behind skips to the newest and counts the loss in `missed`.
        endpoint: the topic's name when `msg_type` is a message class:
            ``Topic(horus.Imu, endpoint="arm.imu")`` is the topic "arm.imu", not "imu".
        max_msg_size: largest payload in bytes (default 64 KiB); e.g. 640*480*3 for a VGA frame.
            Every process must agree on it; a conflict is a TopicLayoutError.
        namespace: defaults to $HORUS_NAMESPACE or "default".
        name: the topic's name, by keyword (``Topic(name="camera.rgb")``).
    """

    def __init__(
        self,
        msg_type: str | type[Message] | None = None,
        capacity: int | None = None,
        endpoint: str | None = None,
        *,
        max_msg_size: int | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        from . import namespace as ns_mod

        # Upstream's first argument is the message class or, for an untyped topic, the topic's name.
        if name is not None:
            if msg_type is not None:
                raise TypeError(f"Topic({msg_type!r}, name={name!r}): give the topic's name or its type, once")
            msg_type = name
        self._declared = msg_type
        if isinstance(msg_type, type) and issubclass(msg_type, Message):
            name = endpoint or msg_type.__topic_name__
        elif isinstance(msg_type, type):
            raise TypeError(f"Topic({msg_type!r}): msg_type is a message class such as horus.CmdVel, or a topic name")
        elif endpoint is not None:
            raise TypeError(f"Topic({msg_type!r}, endpoint={endpoint!r}): give the topic's name once")
        else:
            name = msg_type
        if not isinstance(name, str):
            raise TypeError(f"Topic takes a topic name or a message class such as horus.CmdVel, not {name!r}")
        self._name = name
        self._endpoint = endpoint
        self._generic = not isinstance(self._declared, type)
        self._ns = namespace or ns_mod.current()
        ns_mod.topic_file(name)  # validate early
        self._slot_size = max_msg_size + FRAMING if max_msg_size else 0
        self._capacity = capacity or 0
        self._seg: _Segment | None = None
        self._publisher: Any = None  # the segment's _core.Topic once this process claimed it
        self._start: Any = None  # where this Topic reads from: a cursor made at construction
        self._cursor: Any = None  # that cursor, once this Topic reads (it counts as a subscriber then)
        self._subscribed: weakref.finalize[Any, Any] | None = None  # closes the descriptor sub_count counts
        self._pending_attach = False
        self._scratch: bytearray | None = None  # recv_into's buffer, one slot long
        # stats(): the segment's head when this process claimed it, this cursor's first message.
        self._sent_base = 0
        self._recv_base = 0
        # Every message published from here on is ours to read.
        self._position()

    def _segment(self, create: bool) -> _Segment | None:
        if self._seg is None:
            try:
                self._seg = _acquire(self._ns, self._name, self._slot_size, self._capacity, create)
            except FileNotFoundError:
                return None
        return self._seg

    def send(self, message: Any, node: Any = None) -> bool:
        """Publish `message` to every subscriber. Raises MessageTooLargeError if it does not fit.

        node: as upstream, a node (or its NodeInfo) whose log records the send (`log_pub`): a
        debugging aid that costs a log record per message, so leave it out in hot loops."""
        publisher = self._publisher or self._claim()
        if node is not None:
            return self._send_logged(message, node)
        # Small plain data and typed messages of numbers and texts are encoded in C; codec.py does the rest.
        if not publisher.publish_value(message):
            parts = codec.encode(message)
            if len(parts) > 64:
                parts = [b"".join(bytes(p) for p in parts)]
            publisher.publish(*parts)
        return True

    def _claim(self) -> Any:
        seg = self._segment(create=True)
        assert seg is not None
        if not seg.claimed:
            seg.core.claim_publisher()
            seg.claimed = True
            seg.sent_base = seg.core.head
        self._publisher = seg.core
        return seg.core

    def _send_logged(self, msg: Any, node: Any) -> bool:
        import time

        start = time.perf_counter_ns()
        self.send(msg)
        _info(node).log_pub(self._name, repr(msg), time.perf_counter_ns() - start)
        return True

    def _position(self) -> Any:
        """The cursor this Topic reads from, made once the topic's segment exists."""
        if self._start is None:
            seg = self._segment(create=False)
            if seg is None:
                # Not published yet: every message of the segment that appears later is new to us.
                self._pending_attach = True
                return None
            self._start = _core.Cursor(seg.core, 0 if self._pending_attach else None)
            self._recv_base = self._start.next
        return self._start

    def _reader(self) -> Any:
        """The cursor, for a Topic that reads: the first call counts it as a subscriber (sub_count)."""
        if self._cursor is None and self._position() is not None:
            fd = _subscriber_lock(self._file())
            # Closed by close(), or when the Topic is collected without it.
            self._subscribed = weakref.finalize(self, os.close, fd) if fd is not None else None
            self._cursor = self._start
        return self._cursor

    def recv(self, node: Any = None, timeout: float | None = None) -> Any:
        """The next message, or None when there is none.

        With `timeout` (seconds), wait up to that long for one: spinning for the
        first 50 us, then asleep on the topic's futex (the GIL released), woken by
        the publisher. Node ticks should not wait; use this in tools and tests.
        node: as upstream, a node whose log records the message received (`log_sub`);
        a number there is the timeout (``recv(0.5)``, as before upstream's argument).
        """
        if node is not None:
            if isinstance(node, (int, float)):
                timeout = node
            else:
                return self._recv_logged(node, timeout)
        cursor = self._cursor or self._wait_for_reader(timeout)
        if cursor is None:
            return None
        return _value(cursor.take(timeout or 0.0, SPIN_S))

    def _recv_logged(self, node: Any, timeout: float | None) -> Any:
        import time

        start = time.perf_counter_ns()
        msg = self.recv(timeout=timeout)
        if msg is not None:
            _info(node).log_sub(self._name, repr(msg), time.perf_counter_ns() - start)
        return msg

    def try_recv(self) -> Any:
        """The next message or None, never waiting: `recv()`, by upstream's name for hot polling loops."""
        return self.recv()

    def read_latest(self) -> Any:
        """The newest message published, or None; not consumed: `recv()` still returns every message in order."""
        cursor = self._cursor or self._wait_for_reader(None)
        if cursor is None or self._seg is None or not (head := self._seg.core.head):
            return None
        # A cursor of its own at the newest message (one the publisher laps meanwhile moves on to a newer one).
        return _value(_core.Cursor(self._seg.core, head - 1).take(0.0, 0.0))

    def pending_count(self) -> int:
        """Messages published that `recv()` has not returned yet: at most `capacity`, as the ring keeps no more."""
        cursor = self._cursor or self._wait_for_reader(None)
        if cursor is None or self._seg is None:
            return 0
        core = self._seg.core
        return max(0, min(core.head - cursor.next, core.capacity))

    def recv_into(self, msg: Message, timeout: float | None = None) -> bool:
        """Fill `msg` (a message instance, e.g. one horus.Imu made at init) with the next message,
        in place; False, `msg` untouched, when there is none (within `timeout` seconds, waiting as
        recv does).

        For nodes that must not allocate per message (1 kHz, gc disabled): the bytes land in a
        buffer this Topic keeps, and `msg`'s fields are set from them, its lists reused. The next
        message must be a `type(msg)` of the same layout, else DecodeError (that message is consumed).
        """
        cursor = self._cursor or self._wait_for_reader(timeout)
        if cursor is None:
            return False
        if self._scratch is None:
            assert self._seg is not None  # a cursor exists only on a mapped segment
            self._scratch = bytearray(self._seg.core.slot_size)
        got = cursor.take_into(msg, self._scratch, timeout or 0.0, SPIN_S)
        if type(got) is int:  # its length in the scratch buffer: the C fast path left it to codec.py
            codec.decode_into(self._scratch, got, msg)
            return True
        return bool(got)

    def _wait_for_reader(self, timeout: float | None) -> Any:
        """The cursor, once the topic's segment exists: at once, or within `timeout` seconds."""
        import time

        deadline = time.monotonic() + (timeout or 0.0)
        while (cursor := self._reader()) is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return cursor

    def has_msg(self) -> bool:
        """True if `recv()` would return a message now (the message is not consumed)."""
        cursor = self._reader()
        return cursor is not None and cursor.ready()

    def recv_all(self) -> list[Any]:
        out = []
        while (msg := self.recv()) is not None:
            out.append(msg)
        return out

    @property
    def missed(self) -> int:
        """Messages this subscriber lost because it fell more than `capacity` behind."""
        return self._cursor.missed if self._cursor is not None else 0

    @property
    def max_msg_size(self) -> int | None:
        seg = self._seg
        return seg.core.slot_size - FRAMING if seg is not None else None

    def close(self) -> None:
        """Release this object's hold on the segment (the segment stays for other processes)."""
        if self._seg is not None:
            if self._subscribed is not None:
                self._subscribed()
            self._start = self._cursor = self._subscribed = None
            self._publisher = None
            self._scratch = None
            _release(self._ns, self._name, self._seg)
            self._seg = None

    # -- upstream's introspection ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def endpoint(self) -> str | None:
        """The name given with ``endpoint=`` (upstream's spelling), else None."""
        return self._endpoint

    @property
    def is_network_topic(self) -> bool:
        """Always False: topics here are shared memory on one machine (no LAN replication)."""
        return False

    @property
    def backend_type(self) -> str:
        return BACKEND

    def is_generic(self) -> bool:
        """True for a topic declared by name (plain data and dicts), False for one of a message class."""
        return self._generic

    def stats(self) -> dict[str, Any]:
        """Upstream's counters: messages this process published on the topic (while it held the
        publisher claim) and this Topic received; failures are raised, never counted, so 0."""
        seg = self._seg
        sent = seg.core.head - seg.sent_base if seg is not None and seg.claimed else 0
        cursor = self._cursor
        received = cursor.next - self._recv_base - cursor.missed if cursor is not None else 0
        return {
            "messages_sent": sent,
            "messages_received": received,
            "send_failures": 0,
            "recv_failures": 0,
            "is_network": False,
            "backend": BACKEND,
        }

    def _file(self) -> str:
        return str(namespace.topics_dir(self._ns) / namespace.topic_file(self._name))

    def pub_count(self) -> int:
        """Publishers on the topic now: 1 while a process (this one included) holds the publisher
        claim, else 0 (one publisher process per topic here)."""
        try:
            fd = os.open(self._file(), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            return int(_core.publisher_claimed(fd))  # the claim's lock (horus_file_claimed in horus.h)
        finally:
            os.close(fd)

    def sub_count(self) -> int:
        """Subscribers on the topic now: the Topics (this process's too) and compiled nodes' handles
        that have received on it and are not closed. Each holds a read lock on a byte of the topic's
        file (horus_file_subscribe in horus.h), counted in the kernel's lock table: a killed
        subscriber's lock goes with it."""
        try:
            st = os.stat(self._file())
        except FileNotFoundError:
            return 0
        # /proc/locks: "ID: OFDLCK ADVISORY READ -1 MAJOR:MINOR:INODE 1 1" (device numbers in hex) for
        # each; a waiter's line has "->" after the ID.
        held = ["OFDLCK", "ADVISORY", "READ", "-1", f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"]
        byte = str(_core.SUBSCRIBER_BYTE)
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            return sum(line.split()[1:] == [*held, byte, byte] for line in locks)

    def __repr__(self) -> str:
        return f"Topic({self._name!r}, namespace={self._ns!r})"


def _subscriber_lock(path: str) -> int | None:
    """A descriptor holding a subscriber's lock (horus_file_subscribe in horus.h); None if it could not
    be taken (best effort: it is a count). The lock lives as long as the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    if not _core.subscribe_fd(fd):
        os.close(fd)
        return None
    return fd


def _info(node: Any) -> Any:
    """What upstream's send(msg, node)/recv(node) log through: a NodeInfo, or a node's."""
    if hasattr(node, "log_pub"):
        return node
    info = getattr(node, "info", None)
    if info is None:
        raise TypeError(f"{node!r} is not a node or NodeInfo: pass the node whose log records the message")
    return info
