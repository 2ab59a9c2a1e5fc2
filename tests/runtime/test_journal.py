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

import horus
import pytest
from horus import journal, log

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
from horus import journal
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
