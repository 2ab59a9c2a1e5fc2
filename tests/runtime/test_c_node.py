"""Compiled nodes on Python's typed topics (horus_core/capi/horus_node.h), both directions."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import horus
import pytest
from horus import capi
from horus.observability import logring, registry
from horus_procs import wait_line
from horus_testing import require
from test_c_stress import SANITIZERS
from test_messages import field_values, zig_cc

from horus_pipeline import REPO

CORE = REPO / "horus_core"
NODE = Path(__file__).with_name("c") / "typed_node.c"


def build(source: Path, out_dir: Path) -> Path:
    # Built from what the installed wheel ships (horus.capi), as a team builds its nodes.
    exe = out_dir / source.stem
    built = zig_cc(
        "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", *capi.cflags(), "-o", str(exe), str(source),
        *capi.sources(),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr.decode()
    return exe


def build_sanitized(source: Path, out_dir: Path) -> Path:
    """The same node and node API under ASan and UBSan: any overflow or UB in the exchange with
    Python aborts the node, which the tests see as missing lines and a non-zero exit."""
    cc = shutil.which("gcc")
    require(cc is not None, "gcc with its sanitizer runtimes builds the sanitized C node")
    exe = out_dir / f"{source.stem}-sanitized"
    subprocess.run(
        [str(cc), "-std=c11", "-O1", "-g", f"-fsanitize={SANITIZERS}", "-fno-sanitize-recover=all",
         "-Wall", "-Wextra", "-Werror", *capi.cflags(), "-o", str(exe), str(source), *capi.sources(), "-lm"],
        check=True,
    )  # fmt: skip
    return exe


@pytest.fixture(scope="module", params=["zig", "sanitized"])
def typed_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    make = build if request.param == "zig" else build_sanitized
    return make(NODE, tmp_path_factory.mktemp("c-node"))


def start(exe: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(exe), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_c_node_publishes_what_a_python_subscriber_receives_typed(ns: str, typed_node: Path) -> None:
    sub = horus.Topic(horus.CmdVel)
    node = start(typed_node, "pub")
    try:
        wait_line(node, "ready")
        assert node.stdin is not None
        node.stdin.write("go\n")
        node.stdin.flush()
        assert sub.recv(timeout=10) == horus.CmdVel(1.5, 0.25, 77)
        wait_line(node, "done")
        assert node.wait(timeout=10) == 0
    finally:
        node.kill()
        node.wait()


def test_a_c_node_receives_python_messages_and_refuses_another_type(ns: str, typed_node: Path) -> None:
    node = start(typed_node, "sub")
    try:
        wait_line(node, "ready")
        pub = horus.Topic("imu")
        # A compiled node that receives counts as a subscriber (from its first recv, which waits).
        deadline = time.monotonic() + 10
        while pub.sub_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pub.sub_count() == 1
        pub.send(horus.Imu(accel_z=9.81, gyro_x=0.5, timestamp_ns=42))
        pub.send(horus.CmdVel(1.0))
        out, _ = node.communicate(timeout=30)
    finally:
        node.kill()
        node.wait()
    assert node.returncode == 0
    lines = out.splitlines()
    assert lines[0] == "imu 0 9.81 0.50 42"
    assert lines[1].startswith("next -9 the topic's next message (29 bytes, type id 0xd91aabd2) is not of this type")
    assert lines[2] == "kept 9.81"  # a refused message leaves the struct as it was


def test_a_c_node_refuses_a_namespace_python_refuses(typed_node: Path) -> None:
    for bad in ("x" * 65, "../etc", ".hidden"):
        node = subprocess.run([str(typed_node), "pub"], input="go\n", capture_output=True, text=True, timeout=30,
                              env={**os.environ, "HORUS_NAMESPACE": bad})  # fmt: skip
        assert node.returncode == 1 and node.stdout == ""
        assert f"namespace {bad} (1-64 of A-Z a-z 0-9 _ . -)" in node.stderr
        assert not (Path("/dev/shm") / f"horus.{bad}").exists()


def test_the_node_api_compiles_for_every_robot_cpu(tmp_path: Path) -> None:
    for target in ("x86_64-linux-gnu.2.17", "aarch64-linux-gnu.2.17"):
        built = zig_cc(
            "-target", target, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(CORE / "csrc"),
            "-I", str(CORE / "capi"), "-c", "-o", str(tmp_path / "node.o"), str(CORE / "capi" / "node.c"),
        )  # fmt: skip
        assert built.returncode == 0, f"{target}: {built.stderr.decode()}"


def test_a_c_node_is_seen_by_monitor_logs_and_systemd(ns: str, typed_node: Path, tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(10)
    node = subprocess.Popen(
        [str(typed_node), "node"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")},
    )  # fmt: skip
    try:
        wait_line(node, "ticked 1")
        assert notify.recv(64) == b"READY=1"
        (row,) = [r for r in registry.snapshot() if r["node"] == "c_motor"]
        assert (row["pid"], row["state"], row["total_ticks"], row["rate_hz"]) == (node.pid, "running", 20, 100.0)
        assert row["health"] == "healthy" and 50 < row["actual_rate_hz"] < 200
        (rec,) = [r for r in logring.Reader(last=None).poll() if r.node == "c_motor"]
        assert (rec.level, rec.message) == (30, "motor driver warming up")
        assert node.stdin is not None
        node.stdin.write("stop\n")
        node.stdin.flush()
        wait_line(node, "closed")
        assert [r for r in registry.snapshot() if r["node"] == "c_motor"] == []
        _, err = node.communicate(timeout=10)
        assert node.returncode == 0, err
        assert "[WARNING] c_motor: motor driver warming up" in err  # not under systemd: stderr
    finally:
        node.kill()
        node.wait()
        notify.close()


def test_every_message_crosses_to_a_c_node_and_back_unchanged(ns: str, tmp_path: Path) -> None:
    # parity.c echoes each message of horus_msgs.h (its HORUS_MSGS_EACH table) once, saying which.
    node = subprocess.Popen([str(build(NODE.with_name("parity.c"), tmp_path))], stdout=subprocess.PIPE, text=True)
    echoed = []
    try:
        assert node.stdout is not None
        while (line := node.stdout.readline().split()) and line[0] == "ready":
            cls = getattr(horus, line[1])
            out, back = horus.Topic(f"parity.{cls.__name__}"), horus.Topic(f"parity.{cls.__name__}.back")
            sent = cls(**{field.name: field_values(i, field) for i, field in enumerate(cls.FIELDS)})
            out.send(sent)
            got = back.recv(timeout=10)
            assert type(got) is cls and got == sent, f"{cls.__name__}: sent {sent!r}, the C node sent back {got!r}"
            echoed.append(cls.__name__)
            out.close()
            back.close()
        assert line == ["done"], f"the C node stopped ({node.wait()}) after {echoed}"
    finally:
        node.kill()
        node.wait()
    assert sorted(echoed) == sorted(horus.messaging.messages.__all__)
