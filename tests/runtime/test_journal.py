"""Node logs to journald: the native protocol, checked by a real AF_UNIX datagram socket that parses it."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import horus
import pytest
from horus.observability import journal, log

SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def parse_native(data: bytes) -> dict[str, bytes]:
    """journald's parser for the native protocol (journald-native.c), written from its documentation."""
    fields: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        eq = data.find(b"=", pos, eol)
        if eq >= 0:  # KEY=value\n
            key, value, pos = data[pos:eq], data[eq + 1 : eol], eol + 1
        else:  # KEY\n, u64 little-endian length, value, \n
            key = data[pos:eol]
            (size,) = struct.unpack_from("<Q", data, eol + 1)
            start = eol + 9
            value, pos = data[start : start + size], start + size + 1
            assert data[pos - 1 : pos] == b"\n", "a binary field must end with a newline"
        name = key.decode()
        assert re.fullmatch(r"[A-Z0-9][A-Z0-9_]*", name), f"journald drops field {name!r}: not a valid name"
        assert name not in fields, f"field {name} twice"
        fields[name] = value
    return fields


class FakeJournald:
    """journald's socket, as far as a test needs it: datagrams and memfds in, parsed records out."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(5)
        self.memfds = 0

    def record(self) -> dict[str, bytes]:
        data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(struct.calcsize("i")))
        fds = [
            fd
            for level, kind, payload in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for fd in struct.unpack(f"{len(payload) // 4}i", payload)
        ]
        if not fds:
            return parse_native(data)
        assert data == b"" and len(fds) == 1, "a memfd comes alone, in an empty datagram"
        fd = fds[0]
        try:
            # journald only maps a memfd that can no longer change under it.
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & SEALS == SEALS
            self.memfds += 1
            return parse_native(os.pread(fd, os.fstat(fd).st_size, 0))
        finally:
            os.close(fd)

    def nothing_more(self) -> bool:
        self.sock.settimeout(0.2)
        try:
            self.sock.recv(1 << 20)
        except TimeoutError:
            return True
        return False


@pytest.fixture
def journald() -> Iterator[FakeJournald]:
    # Not under tmp_path: an AF_UNIX path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="hj") as tmp:
        fake = FakeJournald(f"{tmp}/socket")
        yield fake
        fake.sock.close()


def test_fields_are_encoded_as_journald_expects() -> None:
    assert journal.encode_field(b"MESSAGE", b"a=b") == b"MESSAGE=a=b\n"
    assert journal.encode_field(b"MESSAGE", b"two\nlines") == b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\n"
    assert [journal.syslog_priority(level) for level in (log.DEBUG, log.INFO, log.WARNING, log.ERROR)] == [
        b"7",
        b"6",
        b"4",
        b"3",
    ]


def test_a_record_arrives_with_every_field(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="horus-robot")
    assert sink.send(log.WARNING, "camera", 42, "Latency spike: 12ms")
    fields = journald.record()
    assert fields["MESSAGE"] == b"Latency spike: 12ms"
    assert fields["PRIORITY"] == b"4"
    assert fields["SYSLOG_IDENTIFIER"] == b"horus-robot"
    assert fields["HORUS_NODE"] == b"camera"
    assert fields["HORUS_TICK"] == b"42"
    assert fields["HORUS_PID"] == str(os.getpid()).encode()
    # The caller, not the logging plumbing.
    assert fields["CODE_FILE"] == __file__.encode()
    assert fields["CODE_FUNC"] == b"test_a_record_arrives_with_every_field"
    assert int(fields["CODE_LINE"]) > 0
    assert (sink.sent, sink.dropped) == (1, 0)


def test_multiline_and_non_ascii_messages_use_the_binary_form(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    message = "Traceback:\n  File x=1\n\tValueError: ünïcode\n"
    sink.send(log.ERROR, "planner\nB", 7, message)
    fields = journald.record()
    assert fields["MESSAGE"].decode() == message
    assert fields["HORUS_NODE"] == b"planner\nB"
    assert fields["PRIORITY"] == b"3"


def test_a_record_too_large_for_a_datagram_goes_as_a_sealed_memfd(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    big = "x" * (1 << 20) + "\nend"  # past any AF_UNIX datagram limit (SO_SNDBUF)
    assert sink.send(log.INFO, "camera", 1, big)
    assert sink.send(log.INFO, "camera", 2, "small")
    first, second = journald.record(), journald.record()
    assert first["MESSAGE"].decode() == big and first["HORUS_TICK"] == b"1"
    assert second["MESSAGE"] == b"small"
    assert journald.memfds == 1


def test_a_full_journal_queue_drops_records_instead_of_blocking(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    start = time.monotonic()
    for i in range(2000):  # nobody reads: the kernel queue (max_dgram_qlen) fills at once
        sink.send(log.INFO, "motor", i, "tick")
    assert time.monotonic() - start < 1.0
    assert sink.dropped > 0 and sink.sent + sink.dropped == 2000
    assert "full" in sink.last_error


def test_journald_not_listening_is_counted_and_explained(tmp_path: Path) -> None:
    sink = journal.JournalSink(str(tmp_path / "missing"), identifier="robot")
    assert not sink.send(log.INFO, "motor", 0, "hello")
    assert sink.dropped == 1 and "journald is not listening" in sink.last_error
    # from_env never picks a socket that does not exist: stderr keeps the records instead.
    st = os.fstat(2)
    assert (
        journal.JournalSink.from_env(str(tmp_path / "missing"), {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}) is None
    )


def test_journal_stream_must_be_our_stderr(tmp_path: Path) -> None:
    st = os.fstat(2)
    assert journal.stderr_is_journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not journal.stderr_is_journal_stream({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
    assert not journal.stderr_is_journal_stream({"JOURNAL_STREAM": "garbage"})
    assert not journal.stderr_is_journal_stream({})


def test_unit_name_from_cgroup_v1_and_v2(tmp_path: Path) -> None:
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("0::/system.slice/horus-robot.service\n")
    assert journal._unit_from_cgroup(cgroup) == "horus-robot"
    cgroup.write_text("4:memory:/x\n1:name=systemd:/system.slice/horus-arm.service/payload\n0::/\n")
    assert journal._unit_from_cgroup(cgroup) == "horus-arm"
    cgroup.write_text("0::/\n")
    assert journal._unit_from_cgroup(cgroup) == ""


# A node process as systemd runs it: stderr is a stream to journald, JOURNAL_STREAM names it.
NODE_UNDER_SYSTEMD = """
import sys, horus
from horus.observability import journal
journal.install(journal.JournalSink.from_env(sys.argv[1]))  # the real detection; only the socket path is the test's
def tick(node):
    node.log_info("info line")
    node.log_warning("warning line")
    node.log_error("error\\nwith detail")
    node.log_debug("debug line")
    node.request_stop()
horus.run(horus.Node(name="camera", tick=tick, rate=100))
print("journal" if journal.active_sink() else "stderr", flush=True)
"""


def run_node(tmp_path: Path, socket_path: str, stderr: int, journal_stream: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "node.py"
    script.write_text(NODE_UNDER_SYSTEMD)
    env = {**os.environ, "JOURNAL_STREAM": journal_stream}
    return subprocess.run(
        [sys.executable, str(script), socket_path],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        timeout=30,
    )


def test_node_logs_under_systemd_reach_the_journal_once(ns: str, tmp_path: Path, journald: FakeJournald) -> None:
    ours, journald_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    st = os.fstat(ours.fileno())
    with ours, journald_end:
        done = run_node(tmp_path, journald.path, ours.fileno(), f"{st.st_dev}:{st.st_ino}")
        ours.close()
        assert done.returncode == 0 and done.stdout == "journal\n"
        records = [journald.record() for _ in range(4)]
        assert journald.nothing_more()
        # Not also on the stderr stream, where journald would store each record a second time.
        journald_end.settimeout(1)
        assert journald_end.recv(1 << 16) == b""
    assert [(r["PRIORITY"], r["MESSAGE"]) for r in records] == [
        (b"6", b"info line"),
        (b"4", b"warning line"),
        (b"3", b"error\nwith detail"),
        (b"7", b"debug line"),
    ]
    for record in records:
        assert record["HORUS_NODE"] == b"camera" and record["HORUS_TICK"] == b"0"
        assert record["CODE_FILE"] == str(tmp_path / "node.py").encode() and record["CODE_FUNC"] == b"tick"
        assert record["SYSLOG_IDENTIFIER"]


def test_redirected_stderr_keeps_the_records_even_with_journal_stream_set(
    ns: str, tmp_path: Path, journald: FakeJournald
) -> None:
    # A child of a unit whose stderr was redirected still inherits JOURNAL_STREAM: it must not use the journal.
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    st = os.fstat(stream.fileno())
    with stream:
        done = run_node(tmp_path, journald.path, subprocess.PIPE, f"{st.st_dev}:{st.st_ino}")
    assert done.returncode == 0 and done.stdout == "stderr\n"
    assert "[WARNING] camera: warning line" in done.stderr
    assert journald.nothing_more()


def test_without_systemd_log_calls_write_stderr_only(
    ns: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "_decided", False)  # detect afresh, for this process as it is
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    horus.Node(name="n").log_info("plain")
    assert journal.active_sink() is None
    assert capfd.readouterr().err == "[INFO] n: plain\n"


# -- the native encoder and sender (horus._core.Journal) ------------------------------


def reference_record(identifier: bytes, level: int, node: str, tick: int, message: str, pid: int) -> bytes:
    """The datagram, field by field, with the documented encoding (CODE_* aside)."""
    return b"".join(
        journal.encode_field(key, value)
        for key, value in (
            (b"MESSAGE", message.encode(errors="backslashreplace")),
            (b"PRIORITY", journal.syslog_priority(level)),
            (b"SYSLOG_IDENTIFIER", identifier),
            (b"HORUS_NODE", node.encode(errors="backslashreplace")),
            (b"HORUS_TICK", str(tick).encode()),
            (b"HORUS_PID", str(pid).encode()),
        )
    )


@pytest.mark.parametrize(
    ("level", "node", "tick", "message"),
    [
        (log.INFO, "motor", 0, "plain"),
        (log.DEBUG, "m", 2**64 - 1, ""),
        (5, "n\n", 1, "\n"),
        (45, "ünï", 10**12, "a\nb\r\n\x00c=d"),
        (log.WARNING, "lone \udc80 surrogate", 3, "x" * 3000 + "\n" + "y" * 3000),  # past the stack buffer
    ],
)
def test_the_native_datagram_is_the_documented_encoding(level: int, node: str, tick: int, message: str) -> None:
    sink = journal.JournalSink("/nonexistent", identifier="id\nwith newline")
    try:
        code = SimpleNamespace(co_filename="/a/b.py", co_name="f\nun")  # a frame, as far as CODE_* go
        frame = SimpleNamespace(f_code=code, f_lineno=-1)
        fields = b"CODE_FILE=/a/b.py\nCODE_LINE=-1\nCODE_FUNC\n" + struct.pack("<Q", 4) + b"f\nun\n"
        expected = reference_record(sink.identifier, level, node, tick, message, 4321)
        assert sink._native.encode(level, node, tick, message, 4321, None) == expected
        assert sink._native.encode(level, node, tick, message, 4321, frame) == expected + fields
    finally:
        sink.close()


def test_code_fields_name_the_tick_that_called_node_log(ns: str, journald: FakeJournald) -> None:
    previous = journal.active_sink()
    journal.install(journal.JournalSink(journald.path, identifier="robot"))
    lines = []

    class Camera:
        def step(self, node: horus.Node) -> None:
            lines.append(sys._getframe().f_lineno + 1)
            node.log_warning("from a method")

    def tick(node: horus.Node) -> None:
        lines.append(sys._getframe().f_lineno + 1)
        node.log_info("from a function")
        log.emit(log.ERROR, node.name, node.tick_count, "straight to log.emit")
        node.request_stop()

    try:
        horus.Node(name="n", tick=tick).log_info("outside any tick")
        horus.run(horus.Node(name="n", tick=tick, rate=100), horus.Node(name="c", tick=Camera().step), duration=2)
    finally:
        journal.install(previous)
    records = [journald.record() for _ in range(4)]
    here = __file__.encode()
    assert [(r["CODE_FILE"], r["CODE_FUNC"]) for r in records] == [
        (here, b"test_code_fields_name_the_tick_that_called_node_log"),
        (here, b"tick"),
        (here, b"tick"),
        (here, b"step"),
    ]
    assert [(r["HORUS_NODE"], int(r["CODE_LINE"])) for r in records[1:]][::2] == [(b"n", lines[0]), (b"c", lines[1])]


def test_the_schedulers_own_records_name_the_scheduler(ns: str, journald: FakeJournald) -> None:
    previous = journal.active_sink()
    journal.install(journal.JournalSink(journald.path, identifier="robot"))

    def tick(node: horus.Node) -> None:
        node.request_stop()
        raise ValueError("boom")

    try:
        horus.run(horus.Node(name="n", tick=tick, rate=100, failure_policy="ignore"), duration=2)
    finally:
        journal.install(previous)
    record = journald.record()
    assert b"tick failed" in record["MESSAGE"] and record["PRIORITY"] == b"3"
    # The scheduler's failure handling (horus/runtime/failures.py) logged it, not a node's code.
    assert record["CODE_FILE"].endswith(b"horus/runtime/failures.py") and record["CODE_FUNC"] == b"failed"


def test_a_forked_child_sends_its_own_pid(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    sink.send(log.INFO, "parent", 0, "before")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os._exit(0 if sink.send(log.INFO, "child", 0, "after") else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    first, second = journald.record(), journald.record()
    assert first["HORUS_PID"] == str(os.getpid()).encode()
    assert second["HORUS_NODE"] == b"child" and second["HORUS_PID"] == str(child).encode()
    assert sink.send(log.INFO, "parent", 1, "again") and journald.record()["HORUS_PID"] == str(os.getpid()).encode()


def test_a_replaced_journald_socket_is_reconnected(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    assert sink.send(log.INFO, "motor", 1, "to the first")
    assert journald.record()["MESSAGE"] == b"to the first"
    journald.sock.close()
    os.unlink(journald.path)
    journald.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # journald's socket unit restarted
    journald.sock.bind(journald.path)
    journald.sock.settimeout(5)
    assert sink.send(log.INFO, "motor", 2, "to the second"), sink.last_error
    assert journald.record()["MESSAGE"] == b"to the second"
    assert (sink.sent, sink.dropped) == (2, 0)


def test_a_full_queue_drops_node_records_but_the_ring_keeps_them(ns: str, journald: FakeJournald) -> None:
    from horus.observability import logring

    sink = journal.JournalSink(journald.path, identifier="robot")
    previous = journal.active_sink()
    journal.install(sink)
    node = horus.Node(name="motor")
    try:
        start = time.monotonic()
        for i in range(500):
            node.log_info(f"line {i}")
        assert time.monotonic() - start < 1.0
    finally:
        journal.install(previous)
    assert sink.dropped > 0 and sink.sent + sink.dropped == 500 and "full" in sink.last_error
    ring = logring.ring(ns)
    assert ring is not None and ring.head == 500


def test_a_closed_sink_drops_instead_of_writing_to_a_reused_descriptor(journald: FakeJournald) -> None:
    sink = journal.JournalSink(journald.path, identifier="robot")
    fd = sink._sock.fileno()
    sink.close()
    r, w = os.pipe()  # likely takes the closed socket's number
    try:
        assert not sink.send(log.INFO, "motor", 0, "late")
        assert sink.dropped == 1
        os.set_blocking(r, False)
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
    finally:
        os.close(r)
        os.close(w)
    assert fd >= 0 and journald.nothing_more()
