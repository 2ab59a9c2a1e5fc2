"""Shared memory another process of the same user rewrites or truncates under running nodes.

Such a process can write any byte of a segment and truncate it to any size (the files are the
user's own). A real-time node must survive both: a truncated segment is grown back in place
(the core's SIGBUS handler), and every index read from shared memory is bounded, so a corrupt
head is "no message" until the publisher writes a true one again, never an exception, a crash
or an endless loop.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import horus
import pytest
from horus import capi
from horus.messaging import namespace
from horus.observability import logring
from horus_testing import require

PUBLISHER = """
import time, horus
topic = horus.Topic("cmd_vel", capacity=64)  # attacked before the ring is full
i = 0
while True:
    topic.send(i)
    if i == 0:
        print("ready", flush=True)
    i += 1
    time.sleep(0.004)
"""

# A node's way: recv() every tick (1 kHz), so it also looks between the attack and the next message.
SUBSCRIBER = """
import time, horus
topic = horus.Topic("cmd_vel", capacity=64)  # attacked before the ring is full
print("ready", flush=True)
while True:
    msg = topic.recv()
    if msg is None:
        time.sleep(0.001)
    else:
        print(int(msg), flush=True)
"""

LOGGER = """
import time, horus
node = horus.Node(name="arm")
i = 0
while True:
    node.log_info(f"line {i}")
    if i == 0:
        print("ready", flush=True)
    i += 1
    time.sleep(0.002)
"""


class Child:
    """A Python snippet (or a program: argv) in its own process; a thread collects what it prints."""

    def __init__(self, code: str | list[str], **kw: object) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
        self.proc = subprocess.Popen(
            code if isinstance(code, list) else [sys.executable, "-u", "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            **kw,  # type: ignore[call-overload]
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def wait_for(self, what: Callable[[list[str]], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not what(self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.fail(f"waited {timeout} s in vain")
            time.sleep(0.01)

    def fail(self, why: str) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate()
        pytest.fail(f"{why}; exit {self.proc.returncode}, last lines {self.lines[-5:]}, stderr:\n{err}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def children() -> Iterator[Callable[[str | list[str]], Child]]:
    started: list[Child] = []

    def start(code: str | list[str]) -> Child:
        started.append(Child(code))
        return started[-1]

    yield start
    for child in started:
        child.stop()


def write_u64(path: Path, offset: int, value: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, value.to_bytes(8, "little"), offset)
    finally:
        os.close(fd)


def fill(path: Path, byte: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([byte]) * os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


# The attacks: what a same-user process does to a segment. Topic and log ring keep head at 64.
ATTACKS: dict[str, Callable[[Path], None]] = {
    "truncated to 0": lambda p: os.truncate(p, 0),
    "truncated to one page": lambda p: os.truncate(p, 4096),
    "head 2^63": lambda p: write_u64(p, 64, 1 << 63),
    "head 2^64-1": lambda p: write_u64(p, 64, (1 << 64) - 1),
    "every byte 0xff": lambda p: fill(p, 0xFF),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_publisher_and_subscriber_keep_running_and_receiving_after_the_segment_is_attacked(
    ns: str, children: Callable[[str | list[str]], Child], attack: str
) -> None:
    subscriber = children(SUBSCRIBER)
    subscriber.wait_for(lambda lines: "ready" in lines)
    publisher = children(PUBLISHER)
    publisher.wait_for(lambda lines: "ready" in lines)
    subscriber.wait_for(lambda lines: len(lines) > 20)

    ATTACKS[attack](namespace.topics_dir(ns) / namespace.topic_file("cmd_vel"))
    seen = len(subscriber.lines)
    subscriber.wait_for(lambda lines: len(lines) > seen + 100)  # about 0.2 s of messages after the attack
    assert publisher.alive() and subscriber.alive()
    values = [int(v) for v in subscriber.lines[seen + 50 :]]
    assert values == list(range(values[0], values[0] + len(values)))  # in order, none lost, once settled


# Writers number records with fetch_add and never read head otherwise: a head attack alone stops none.
WRITER_ATTACKS = ["truncated to 0", "truncated to one page", "every byte 0xff"]


@pytest.mark.parametrize("attack", WRITER_ATTACKS)
def test_a_log_writer_keeps_running_and_its_lines_reach_horus_logs_after_the_ring_is_attacked(
    ns: str, children: Callable[[str | list[str]], Child], attack: str
) -> None:
    writer = children(LOGGER)
    writer.wait_for(lambda lines: "ready" in lines)
    time.sleep(0.1)
    ATTACKS[attack](Path(logring.ring_path(ns)))
    time.sleep(0.3)
    assert writer.alive()
    # What `horus logs` shows now: the lines written after the attack.
    reader = logring.Reader(ns, last=50)
    records = list(reader.poll())
    assert writer.alive() and records and all(r.node == "arm" and r.message.startswith("line ") for r in records)


HORUS_LOGS = """
import sys, time
from horus.cli.main import main
start = time.monotonic()
rc = main(["logs", "-n", "5000"])
print(f"took {time.monotonic() - start:.3f}", file=sys.stderr)
sys.exit(rc)
"""


# A ring that is not truncated but counts 2^40 records: each slot looks half-written.
LOG_ATTACKS = {**ATTACKS, "head 2^40": lambda p: write_u64(p, 64, 1 << 40)}


@pytest.mark.parametrize("attack", LOG_ATTACKS)
def test_horus_logs_returns_within_a_second_on_a_corrupted_ring(ns: str, attack: str) -> None:
    for i in range(20):
        logring.append(20, "arm", i, f"line {i}", ns)
    LOG_ATTACKS[attack](Path(logring.ring_path(ns)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    done = subprocess.run([sys.executable, "-c", HORUS_LOGS], capture_output=True, text=True, timeout=60, env=env)
    # It shows what it can read, or says the ring is unreadable (exit 2): no traceback, no crash.
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done
    assert float(done.stderr.rsplit("took ", 1)[-1]) < 1.0, done


TENSOR_READER = """
import sys, horus, numpy as np
pool = horus.TensorPool(pool_id=5, size_mb=1, max_slots=4)
frame = pool.alloc([256, 256], dtype="uint8")
frame.numpy()[:] = 7
print("ready", flush=True)
sys.stdin.readline()
print("sum", int(frame.numpy().sum()), pool.stats()["max_slots"], flush=True)
"""


def test_a_tensor_pool_reader_survives_the_pool_being_truncated(ns: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    reader = subprocess.Popen([sys.executable, "-u", "-c", TENSOR_READER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
        os.truncate(namespace.directory(ns) / "tensors" / "pool.5", 0)
        out, err = reader.communicate("go\n", timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0 and out.split()[0] == "sum", (out, err)
    assert int(out.split()[2]) == 4  # the pool's header was restored along with its size
    assert horus.TensorPool(5).stats()["max_slots"] == 4  # and a new process can map it again


CMD_VEL_PUBLISHER = """
import time, horus
topic = horus.Topic(horus.CmdVel)
i = 0
while True:
    topic.send(horus.CmdVel(1.0, 0.0, i))
    i += 1
    time.sleep(0.004)
"""


@pytest.fixture(scope="module")
def motor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/security/c/motor.c, built from what the wheel ships, as a team builds its nodes."""
    require(importlib.util.find_spec("ziglang") is not None, "zig (ziglang from lockfiles/tools.txt) compiles C here")
    exe = tmp_path_factory.mktemp("motor") / "motor"
    source = Path(__file__).with_name("c") / "motor.c"
    built = subprocess.run(
        [sys.executable, "-m", "ziglang", "cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", *capi.cflags(),
         "-o", str(exe), str(source), *capi.sources()],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return exe


def motor_files(ns: str, pid: int) -> dict[str, Path]:
    return {
        "topic": namespace.topics_dir(ns) / namespace.topic_file("cmd_vel"),
        "log ring": Path(logring.ring_path(ns)),
        "stats": namespace.directory(ns) / "stats" / f"{pid}.c",
    }


# Rewritten bytes stop no writer (they overwrite them); truncation killed the motor through any of its
# three segments, and a rewritten topic stopped its commands.
MOTOR_CASES = [("truncated to 0", "topic"), ("truncated to 0", "log ring"), ("truncated to 0", "stats"),
               ("every byte 0xff", "topic")]  # fmt: skip


@pytest.mark.parametrize(("attack", "target"), MOTOR_CASES)
def test_a_c_motor_controller_keeps_ticking_and_receiving_when_its_segments_are_attacked(
    ns: str, children: Callable[[str | list[str]], Child], motor: Path, target: str, attack: str
) -> None:
    controller = children([str(motor)])
    controller.wait_for(lambda lines: "ready" in lines)
    children(CMD_VEL_PUBLISHER)
    controller.wait_for(lambda lines: len(lines) > 20)

    path = motor_files(ns, controller.proc.pid)[target]
    assert path.exists()
    ATTACKS[attack](path)
    seen = len(controller.lines)
    controller.wait_for(lambda lines: len(lines) > seen + 100)
    assert controller.alive()
    values = [int(v) for v in controller.lines[seen + 50 :]]
    assert values == list(range(values[0], values[0] + len(values)))
