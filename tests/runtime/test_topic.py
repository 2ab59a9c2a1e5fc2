"""Topics across real processes and real shared memory."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import horus
import numpy as np
import pytest
from horus import _core
from horus.messaging import namespace
from horus_procs import Py, go, wait_line

PUBLISHER = """
import sys, horus
n = int(sys.argv[1])
t = horus.Topic("counter", capacity=int(sys.argv[2]) if len(sys.argv) > 2 else None)
t.send({"i": -1})  # creates the topic
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    t.send({"i": i, "payload": "x" * (i % 50)})
print("done", flush=True)
"""


def drain(topic: horus.Topic, want: int, timeout: float = 10) -> list[object]:
    got: list[object] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        msg = topic.recv()
        if msg is None:
            time.sleep(0.0005)
        else:
            got.append(msg)
    return got


def test_two_processes_pub_sub_in_order(ns: str, py: Py) -> None:
    sub = horus.Topic("counter", capacity=1024)
    pub = py.start(PUBLISHER, "500", "1024", stdin=-1)
    wait_line(pub, "ready")
    go(pub)
    got = drain(sub, 501)
    assert [m["i"] for m in got] == list(range(-1, 500))  # type: ignore[index]
    assert sub.missed == 0


def test_many_subscribers_in_other_processes_each_see_every_message(ns: str, py: Py) -> None:
    reader = """
import sys, time, horus
t = horus.Topic("fan")
print("ready", flush=True)
got = []
while len(got) < 200:
    m = t.recv()
    if m is None:
        time.sleep(0.0005)
    else:
        got.append(m)
print("ok" if got == list(range(200)) else f"bad {got[:5]}", flush=True)
"""
    readers = [py.start(reader) for _ in range(3)]
    for r in readers:
        wait_line(r, "ready")
    pub = horus.Topic("fan", capacity=256)
    for i in range(200):
        pub.send(i)
    for r in readers:
        out, err = r.communicate(timeout=30)
        assert out.strip().splitlines()[-1] == "ok", err


def test_a_lagging_subscriber_gets_the_newest_messages_and_a_miss_count(ns: str) -> None:
    pub = horus.Topic("lag", capacity=16)
    slow = horus.Topic("lag")
    fast = horus.Topic("lag")
    slow.has_msg()
    fast.has_msg()
    got_fast = []
    for i in range(100):
        pub.send(i)
        got_fast.append(fast.recv())
    assert got_fast == list(range(100))
    got_slow = slow.recv_all()
    assert got_slow == list(range(84, 100))
    assert slow.missed == 84 and fast.missed == 0


def test_has_msg_does_not_consume(ns: str) -> None:
    pub, sub = horus.Topic("peek"), horus.Topic("peek")
    assert not sub.has_msg()
    pub.send("hello")
    assert sub.has_msg() and sub.has_msg()
    assert sub.recv() == "hello"
    assert not sub.has_msg() and sub.recv() is None


def test_try_recv_pending_count_and_read_latest_as_upstream(ns: str) -> None:
    pub, sub = horus.Topic("latest", capacity=16), horus.Topic("latest")
    assert sub.try_recv() is None and sub.pending_count() == 0 and sub.read_latest() is None
    for i in range(3):
        pub.send(horus.CmdVel(float(i)))
    assert sub.pending_count() == 3
    assert sub.read_latest() == horus.CmdVel(2.0) and sub.read_latest() == horus.CmdVel(2.0)  # not consumed
    assert sub.try_recv() == horus.CmdVel(0.0) and sub.pending_count() == 2
    for i in range(40):
        pub.send({"i": i})
    assert sub.pending_count() == 16  # what the ring still holds for it
    assert sub.read_latest() == {"i": 39} and sub.recv() == {"i": 24}


def test_a_topic_named_by_its_message_type_with_upstreams_keyword(ns: str) -> None:
    assert horus.Topic(msg_type=horus.CmdVel).name == "cmd_vel"
    assert horus.Topic(msg_type=horus.Imu, endpoint="arm.imu").name == "arm.imu"
    with pytest.raises(TypeError, match="give the topic's name or its type, once"):
        horus.Topic(horus.Imu, name="imu")
    with pytest.raises(TypeError, match="msg_type is a message class"):
        horus.Topic(msg_type=float)  # type: ignore[arg-type]


def test_a_subscriber_started_before_the_publisher_gets_the_first_message(ns: str, py: Py) -> None:
    sub = horus.Topic("late")
    assert sub.recv() is None  # no publisher yet
    py.run('import horus; t = horus.Topic("late"); t.send("first"); t.send("second")')
    assert sub.recv_all() == ["first", "second"]


def test_publisher_killed_mid_stream_leaves_no_torn_message(ns: str, py: Py) -> None:
    writer = """
import numpy as np, horus
t = horus.Topic("frames", capacity=4, max_msg_size=256 * 1024)
i = 0
while True:
    block = np.full(65536, i % 251, dtype=np.uint8)
    t.send({"i": i, "block": block, "sum": int(block.sum())})
    if i == 200:
        print("streaming", flush=True)
    i += 1
"""
    sub = horus.Topic("frames")
    proc = py.start(writer)
    wait_line(proc, "streaming")
    checked = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        msg = sub.recv()
        if msg is not None:
            assert int(msg["block"].sum()) == msg["sum"] and msg["block"][0] == msg["i"] % 251
            checked += 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for msg in sub.recv_all():
        assert int(msg["block"].sum()) == msg["sum"]
        checked += 1
    assert checked > 10
    # The segment outlives the publisher, and a restarted publisher takes over at once.
    py.run('import horus; horus.Topic("frames").send({"i": -5, "block": b"", "sum": 0})')
    assert sub.recv_all()[-1]["i"] == -5


def test_a_second_publisher_process_is_refused_with_its_pid(ns: str, py: Py) -> None:
    horus.Topic("cmd_vel").send({"v": 1.0})
    result = py.run('import horus; horus.Topic("cmd_vel").send({"v": 2.0})')
    assert result.returncode != 0
    assert "TopicBusyError" in result.stderr and f"pid {os.getpid()}" in result.stderr


def test_nodes_in_one_process_share_the_publisher(ns: str) -> None:
    a, b, sub = horus.Topic("shared"), horus.Topic("shared"), horus.Topic("shared")
    sub.has_msg()
    a.send(1)
    b.send(2)
    assert sub.recv_all() == [1, 2]


def test_opening_with_another_size_is_a_clear_error_not_sigbus(ns: str, py: Py) -> None:
    holder = py.start(
        'import sys, horus; t = horus.Topic("img", max_msg_size=1024); t.send(1); '
        'print("ready", flush=True); sys.stdin.readline()',
        stdin=-1,
    )
    wait_line(holder, "ready")
    with pytest.raises(horus.TopicLayoutError, match="max_msg_size"):
        horus.Topic("img", max_msg_size=4096).send(2)
    # Without an explicit size, a process takes whatever the topic was created with.
    t = horus.Topic("img")
    t.has_msg()
    assert t.max_msg_size == 1024


def test_a_stale_segment_with_another_layout_is_replaced(ns: str, py: Py) -> None:
    py.run('import horus; horus.Topic("img", max_msg_size=1024).send(1)')
    t = horus.Topic("img", max_msg_size=640 * 480 * 3)
    t.send(np.zeros((480, 640, 3), np.uint8))
    assert t.max_msg_size == 640 * 480 * 3


def test_a_vga_frame_fits_when_asked_and_an_oversize_message_is_refused(ns: str) -> None:
    pub = horus.Topic("camera.rgb", max_msg_size=640 * 480 * 3)
    sub = horus.Topic("camera.rgb")
    sub.has_msg()
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pub.send(frame)
    np.testing.assert_array_equal(sub.recv(), frame)
    with pytest.raises(horus.MessageTooLargeError, match=r"camera\.rgb"):
        pub.send(np.zeros((481, 640, 3), np.uint8))
    assert sub.recv() is None  # nothing half-sent


def test_the_default_size_fits_64_kib(ns: str) -> None:
    pub, sub = horus.Topic("blob"), horus.Topic("blob")
    sub.has_msg()
    pub.send(b"\x01" * 65536)
    assert sub.recv() == b"\x01" * 65536
    with pytest.raises(horus.MessageTooLargeError, match="max 65792 bytes"):
        pub.send(b"\x01" * 70000)


def test_shared_memory_is_private_to_the_user(ns: str) -> None:
    horus.Topic("priv").send(1)
    ns_dir = namespace.directory(ns)
    assert stat.S_IMODE(ns_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(namespace.topics_dir(ns).stat().st_mode) == 0o700
    for f in namespace.topics_dir(ns).iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_a_readable_namespace_directory_is_refused(ns: str) -> None:
    ns_dir = namespace.directory(ns)
    ns_dir.mkdir(mode=0o755)
    ns_dir.chmod(0o755)
    with pytest.raises(PermissionError, match="chmod 700"):
        horus.Topic("t").send(1)


def test_liveness_follows_the_processes_that_map_a_segment(ns: str, py: Py) -> None:
    proc = py.start(
        'import sys, horus; horus.Topic("live").send(1); print("ready", flush=True); sys.stdin.readline()',
        stdin=-1,
    )
    wait_line(proc, "ready")
    seg = namespace.topics_dir(ns) / namespace.topic_file("live")
    assert _core.segment_in_use(str(seg))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not _core.segment_in_use(str(seg))


def test_topic_names_cannot_escape_the_namespace(ns: str) -> None:
    horus.Topic("../../etc/robot/cmd").send(1)
    files = [p.name for p in Path(namespace.topics_dir(ns)).iterdir()]
    assert files == ["%2E.%2F..%2Fetc%2Frobot%2Fcmd"]


def test_recv_with_a_timeout_sleeps_until_another_process_publishes(ns: str, py: Py) -> None:
    sub = horus.Topic("wake")
    t0 = time.monotonic()
    assert sub.recv(timeout=0.2) is None  # nothing comes: waits the timeout, no error
    assert 0.15 < time.monotonic() - t0 < 5
    proc = py.start('import time, horus; t = horus.Topic("wake"); t.send(0); time.sleep(0.3); t.send("late")')
    assert sub.recv(timeout=10) == 0
    t0 = time.monotonic()
    assert sub.recv(timeout=10) == "late"  # asleep on the futex, woken by the publisher
    assert 0.1 < time.monotonic() - t0 < 5
    assert proc.wait(10) == 0


def old_version_segment(path: Path) -> None:
    """A segment as an older runtime would have left it: our magic, another layout version."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(b"HRST" + (1).to_bytes(4, "little") + bytes(4096 - 8))
    path.chmod(0o600)


def test_a_stale_segment_of_an_older_runtime_is_replaced(ns: str) -> None:
    namespace.directory(ns).mkdir(mode=0o700)
    old_version_segment(namespace.topics_dir(ns) / "cmd_vel")
    pub, sub = horus.Topic("cmd_vel"), horus.Topic("cmd_vel")
    pub.send({"v": 1})
    assert sub.recv() == {"v": 1}


def test_a_live_older_runtime_segment_is_a_clear_error(ns: str, py: Py) -> None:
    namespace.directory(ns).mkdir(mode=0o700)
    seg = namespace.topics_dir(ns) / "cmd_vel"
    old_version_segment(seg)
    holder = py.start(
        f'import fcntl, sys; f = open({str(seg)!r}); fcntl.flock(f, fcntl.LOCK_SH); print("ready", flush=True); '
        "sys.stdin.readline()",
        stdin=-1,
    )
    wait_line(holder, "ready")
    with pytest.raises(horus.TopicCorruptError, match=r"another HORUS version \(layout 1, this is 2\)"):
        horus.Topic("cmd_vel").send(1)


REWRITE_HEADER = """
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    f.seek(12)  # slot_size, capacity, format, slot_stride: as hostile as a u32 gets
    f.write(struct.pack("<4I", 0xFFFFFFF0, 0x80000000, 7, 0xFFFFFFC0))
    f.seek(128 + 16)  # slot 0's payload length
    f.write(struct.pack("<I", 0xFFFFFFFF))
print("rewritten", flush=True)
"""


def test_a_rewritten_topic_header_changes_nothing_for_processes_already_attached(ns: str, py: Py) -> None:
    # Another process of the service user rewrites the header after both ends checked it: the
    # publisher must not write past its ring, the subscriber must not read past it (no SIGSEGV).
    pub = horus.Topic("victim", capacity=4)
    sub = horus.Topic("victim", capacity=4)
    pub.send({"i": -1})  # both ends attach (and check the header) now
    assert drain(sub, 1) == [{"i": -1}]
    path = namespace.topics_dir() / namespace.topic_file("victim")
    rewriter = py.start(REWRITE_HEADER, str(path))
    wait_line(rewriter, "rewritten")
    assert rewriter.wait(10) == 0
    for i in range(10):
        pub.send({"i": i})
    got = drain(sub, 4)
    assert [m["i"] for m in got] == [6, 7, 8, 9]  # type: ignore[index]
    assert sub.missed == 6
