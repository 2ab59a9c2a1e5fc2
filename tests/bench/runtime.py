"""Runtime benchmark: HORUS topics against multiprocessing.Pipe and pyzmq, and scheduler jitter.

    nox -s bench            (or: python tests/bench/runtime.py --json dist/bench/runtime.json)

Everything is measured side by side in one run, because the machines are shared
and noisy: compare the ratios, and read the absolute numbers with that in mind.
Targets (issue 2): 64 B p50 < 10 us and >= 5x faster than Pipe; 1 MiB >= 2 GB/s;
1 kHz p99 jitter < 200 us on an idle machine, for Python nodes and the demo's motor controller
in its Python and compiled variants (issue 15, next to 64 B typed latency through a C node).
Issue 4: what a tick adds for its stats (in-process and the registry record) and one log line
to stderr, < 2 us.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = {64: 20000, 1 << 20: 500}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- echo servers (child processes) ------------------------------------------------


def horus_echo(ns: str, size: int, ready: Any) -> None:
    os.environ["HORUS_NAMESPACE"] = ns
    import horus

    ping = horus.Topic("bench.ping", max_msg_size=size)
    pong = horus.Topic("bench.pong", max_msg_size=size)
    ready.set()
    while True:
        msg = ping.recv(timeout=10)
        if msg == b"stop" or msg is None:
            return
        pong.send(msg)


def pipe_echo(conn: Any, ready: Any) -> None:
    ready.set()
    while True:
        data = conn.recv_bytes()
        if data == b"stop":
            return
        conn.send_bytes(data)


def zmq_echo(address: str, ready: Any) -> None:
    import zmq

    sock = zmq.Context.instance().socket(zmq.PAIR)
    sock.bind(address)
    ready.set()
    while True:
        data = sock.recv(copy=True)
        if data == b"stop":
            return
        sock.send(data, copy=False)


# -- clients -------------------------------------------------------------------------


def round_trips(send: Callable[[Any], object], recv: Callable[[], object], payload: Any, n: int) -> list[float]:
    """One-way latency in microseconds, as half of each measured round trip."""
    out = []
    for i in range(n + n // 10):
        t0 = time.perf_counter_ns()
        send(payload)
        recv()
        if i >= n // 10:  # the first tenth warms caches and page tables
            out.append((time.perf_counter_ns() - t0) / 2000)
    return out


def bench_horus(size: int, n: int, payload: Any = None, into: Any = None) -> list[float]:
    """Round trips of `payload` (default: `size` random bytes) through an echo process; with `into`,
    a message instance, each reply is received into it (recv_into) instead of a new object."""
    import horus

    ns = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["HORUS_NAMESPACE"] = ns
    ping = horus.Topic("bench.ping", max_msg_size=size)
    pong = horus.Topic("bench.pong", max_msg_size=size)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=horus_echo, args=(ns, size, ready))
    proc.start()
    ready.wait()

    def recv() -> Any:
        # Like Pipe.recv_bytes and zmq's recv, this blocks: it spins 50 us, then sleeps on the topic's futex.
        if into is not None:
            assert pong.recv_into(into, timeout=10), "echo process stopped answering"
            return into
        msg = pong.recv(timeout=10)
        assert msg is not None, "echo process stopped answering"
        return msg

    try:
        return round_trips(ping.send, recv, os.urandom(size) if payload is None else payload, n)
    finally:
        ping.send(b"stop")
        proc.join()
        import shutil

        shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)


def bench_pipe(size: int, n: int) -> list[float]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    ready = ctx.Event()
    proc = ctx.Process(target=pipe_echo, args=(child, ready))
    proc.start()
    ready.wait()
    try:
        return round_trips(parent.send_bytes, parent.recv_bytes, os.urandom(size), n)
    finally:
        parent.send_bytes(b"stop")
        proc.join()


def pipe_object_echo(conn: Any, ready: Any) -> None:
    ready.set()
    while (obj := conn.recv()) != "stop":
        conn.send(obj)


def bench_typed(n: int) -> dict[str, list[float]]:
    """64 B of typed data (horus.Pose3D: 7 f64 and a u64) one way: as the typed message received
    into a new object and into a pre-allocated one, as today's dict of the same 8 numbers, and
    that dict over multiprocessing.Pipe (pickled)."""
    import horus

    pose = horus.Pose3D(1.0, 2.0, 3.0, 0.0, 0.0, 0.7071, 0.7071, 123456789)
    as_dict = {f.name: getattr(pose, f.name) for f in pose.FIELDS}
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    ready = ctx.Event()
    proc = ctx.Process(target=pipe_object_echo, args=(child, ready))
    proc.start()
    ready.wait()
    try:
        pipe = round_trips(parent.send, parent.recv, as_dict, n)
    finally:
        parent.send("stop")
        proc.join()
    return {
        "typed_c_echo": bench_c_echo(pose, n),
        "typed": bench_horus(64, n, payload=pose),
        "typed_recv_into": bench_horus(64, n, payload=pose, into=horus.Pose3D()),
        "dict": bench_horus(256, n, payload=as_dict),
        "pipe_dict": pipe,
    }


def build_c_node(source: Path, out_dir: Path) -> Path:
    """Compile a C node with the installed runtime's node API (horus.capi) by zig, as the build does for robots."""
    from horus import capi

    from horus_pipeline.bundle.native import compile_program
    from horus_pipeline.targets import get_arch

    exe = out_dir / source.stem
    sources = [Path(p) for p in capi.sources()]
    compile_program(source.parent, source, get_arch(platform.machine()), capi.DIR, sources, exe)
    return exe


def bench_c_echo(pose: Any, n: int) -> list[float]:
    """Pose3D round trips through a compiled node (c_echo.c, horus_node.h), received into one message."""
    import shutil
    import subprocess
    import tempfile

    import horus

    ns = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["HORUS_NAMESPACE"] = ns
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c_node(Path(__file__).with_name("c_echo.c"), Path(tmp))
        ping = horus.Topic("bench.ping")
        pong = horus.Topic("bench.pong")
        proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            into = horus.Pose3D()

            def recv() -> Any:
                assert pong.recv_into(into, timeout=10), "the C echo node stopped answering"
                return into

            return round_trips(ping.send, recv, pose, n)
        finally:
            ping.send(horus.Pose3D(timestamp_ns=0))
            proc.wait(timeout=10)
            ping.close()
            pong.close()
            shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)


def bench_zmq(size: int, n: int) -> list[float]:
    import zmq

    address = f"ipc:///tmp/horus-bench-{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=zmq_echo, args=(address, ready))
    proc.start()
    ready.wait()
    sock = zmq.Context.instance().socket(zmq.PAIR)
    sock.connect(address)
    try:
        return round_trips(lambda b: sock.send(b, copy=False), sock.recv, os.urandom(size), n)
    finally:
        sock.send(b"stop")
        proc.join()
        sock.close()


def horus_streamer(ns: str, size: int, seconds: float, ready: Any) -> None:
    os.environ["HORUS_NAMESPACE"] = ns
    import horus

    topic = horus.Topic("bench.stream", capacity=16, max_msg_size=size)
    acks = horus.Topic("bench.ack")
    payload = os.urandom(size)
    ready.wait()
    sent = acked = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # Stay at most half a ring ahead of the reader: it must get every message, none overwritten.
        while sent - acked >= 8:
            acked = acks.recv(timeout=1) or acked
        topic.send(payload)
        sent += 1
    topic.send(b"stop")


def bench_throughput(size: int = 1 << 20, seconds: float = 3.0) -> dict[str, float]:
    """Bytes per second one subscriber in another process receives, every message delivered."""
    import horus

    ns = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["HORUS_NAMESPACE"] = ns
    sub = horus.Topic("bench.stream", capacity=16, max_msg_size=size)
    acks = horus.Topic("bench.ack")
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=horus_streamer, args=(ns, size, seconds, ready))
    proc.start()
    got = count = 0
    ready.set()
    start = None
    while True:
        msg = sub.recv(timeout=10)
        if msg is None or msg == b"stop":
            break
        start = start or time.perf_counter()
        got += len(msg)
        count += 1
        if count % 4 == 0:
            acks.send(count)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    proc.join()
    import shutil

    shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)
    return {"gb_per_s": got / elapsed / 1e9 if elapsed else 0.0, "messages": count, "missed": sub.missed}


def bench_jitter(gc_enabled: bool, seconds: float = 5.0) -> dict[str, float]:
    """Lateness of each tick of a 1 kHz node against its ideal grid, in microseconds."""
    import shutil

    import horus

    os.environ["HORUS_NAMESPACE"] = ns = f"bench-{uuid.uuid4().hex[:8]}"
    stamps: list[int] = []
    junk: list[Any] = []

    def tick(node: horus.Node) -> None:
        stamps.append(time.monotonic_ns())
        junk.append([{"x": i} for i in range(20)])  # garbage, so the collector has work
        if len(junk) > 200:
            junk.clear()

    was = gc.isenabled()
    (gc.enable if gc_enabled else gc.disable)()
    try:
        horus.run(horus.Node(name="motor", tick=tick, rate=1000, failure_policy="fatal"), duration=seconds)
    finally:
        (gc.enable if was else gc.disable)()
        shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)
    return lateness(stamps)


def lateness(stamps: list[int]) -> dict[str, float]:
    """Each 1 kHz tick's distance from its ideal grid, in microseconds, after a 100-tick warm-up."""
    period = 1_000_000
    t0 = stamps[0]
    late = [abs((t - t0) - round((t - t0) / period) * period) / 1000 for t in stamps[100:]]
    p50, p99 = percentile(late, 0.5), percentile(late, 0.99)
    return {"p50_us": p50, "p99_us": p99, "max_us": max(late), "ticks": len(stamps)}


DEMO = Path(__file__).resolve().parents[2] / "apps" / "demo"
# The demo's Python motor in a process of its own, as control.py runs it (its other nodes aside).
PYTHON_MOTOR = """import sys
sys.path.insert(0, sys.argv[1])
import horus
from nodes.motor import make_motor
horus.Scheduler(tick_rate=1000, rt=True, name="control").add(make_motor()).run()
"""


def bench_motor_jitter(compiled: bool, seconds: float) -> dict[str, float]:
    """Lateness of the demo's 1 kHz motor controller, compiled (cnodes/motor.c) or Python (nodes/motor.py),
    measured alike from outside: each motor.status it publishes (every 10th tick) carries its tick's start."""
    import shutil
    import subprocess
    import tempfile

    import horus

    os.environ["HORUS_NAMESPACE"] = ns = f"bench-{uuid.uuid4().hex[:8]}"
    status = horus.Topic("motor.status")
    stamps: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        argv = [str(build_c_node(DEMO / "cnodes" / "motor.c", Path(tmp)))] if compiled else [
            sys.executable, "-c", PYTHON_MOTOR, str(DEMO)]  # fmt: skip
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + seconds + 1.0  # lateness() skips the first 100 stamps: 1 s here
            while time.monotonic() < end:
                msg = status.recv(timeout=0.1)
                if msg is not None:
                    stamps.append(msg.timestamp_ns)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            status.close()
            shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)
    return lateness(stamps)


def bench_tick_overhead(n: int = 200_000) -> dict[str, float]:
    """What the scheduler adds per tick for stats (in-process + shared-memory registry) and one log line.

    The log line's stderr copy goes to /dev/null through fd 2 itself (os.dup2), because a
    unit's stderr is a descriptor (the journal stream), not a Python object: its cost is
    the write, not a terminal's. The per-part figures are measured apart, so they need
    not add up to the whole exactly.
    """
    import shutil

    from horus import _core, log, logring, registry
    from horus.stats import NodeStats

    os.environ["HORUS_NAMESPACE"] = ns = f"bench-{uuid.uuid4().hex[:8]}"
    alone = NodeStats("motor", 1000.0, "fatal")
    alone.started()
    published = NodeStats("motor", 1000.0, "fatal")
    published.started()
    pub = registry.Publisher("bench", 1)
    pub.attach(0, published)  # as the scheduler does: each record_tick also rewrites the node's record
    line = "setpoint reached: 0.52 rad"

    def per_call(fn: Callable[[], None]) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        return (time.perf_counter_ns() - t0) / n / 1000

    # A running robot's log ring is paged in already: one pass over it first, or --quick's
    # fewer calls would mostly time the first touch of its 2 MiB.
    ring = logring.ring(ns)
    for _ in range(ring.capacity if ring is not None else 0):
        logring.append(log.INFO, "motor", 0, line, ns)
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        record = per_call(lambda: alone.record_tick(1000, 2000, True, False, False, False))
        stats = per_call(lambda: published.record_tick(1000, 2000, True, False, False, False))
        log_line = per_call(lambda: log.emit(log.INFO, "motor", 1, line, ns))
        ring_only = per_call(lambda: logring.append(log.INFO, "motor", 1, line, ns))
        stderr_only = per_call(lambda: _core.log_line(None, log.INFO, "motor", 1, line))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        pub.close()
    try:
        journald, datagram_alone = bench_journald_line(max(1000, n // 4), ns, line)
    finally:
        shutil.rmtree(f"/dev/shm/horus.{ns}", ignore_errors=True)
    return {
        "stats_record_us": record,
        "registry_publish_us": stats - record,
        "stats_and_registry_us": stats,
        "log_line_us": log_line,
        "log_ring_only_us": ring_only,
        "log_stderr_only_us": stderr_only,
        "log_journald_us": journald,
        "journald_datagram_alone_us": datagram_alone,
        "total_us": stats + log_line,
    }


def bench_journald_line(n: int, ns: str, line: str) -> tuple[float, float]:
    """One log line under systemd: ring + a native-protocol datagram to a local socket standing in for journald.

    Also, for reference, the system call alone: the same datagram written to the same socket
    (connected, as the sink's is) with os.write, the least Python can add to it.
    """
    import socket
    import tempfile

    from horus import journal, log

    batch = 8  # fewer than net.unix.max_dgram_qlen (10 by default): none is dropped for a full queue
    with tempfile.TemporaryDirectory() as tmp, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        path = os.path.join(tmp, "journal.socket")
        server.bind(path)
        server.setblocking(False)

        def timed(fn: Callable[[], object]) -> float:
            spent = 0
            for _ in range(n // batch):
                t0 = time.perf_counter_ns()
                for _ in range(batch):
                    fn()
                spent += time.perf_counter_ns() - t0
                for _ in range(batch):  # what journald would do, outside the timed part
                    server.recv(1 << 16)
            return spent / (n // batch * batch) / 1000

        sink, previous = journal.JournalSink(path, identifier="bench"), journal.active_sink()
        journal.install(sink)
        try:
            per_line = timed(lambda: log.emit(log.INFO, "motor", 1, line, ns))
        finally:
            journal.install(previous)
            sink.close()
        assert sink.dropped == 0, sink.last_error
        datagram = sink.encode(log.INFO, "motor", 1, line)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.connect(path)
            fd = client.fileno()
            alone = timed(lambda: os.write(fd, datagram))
    return per_line, alone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=Path("dist/bench/runtime.json"), help="where to write results")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run, not for quoting)")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "latency_us": {},
    }
    for size, rounds in ROUNDS.items():
        n = max(50, int(rounds * scale))
        row = {}
        for name, fn in (("horus", bench_horus), ("pipe", bench_pipe), ("zmq", bench_zmq)):
            samples = fn(size, n)
            row[name] = {"p50": statistics.median(samples), "p99": percentile(samples, 0.99)}
        results["latency_us"][str(size)] = row
    typed = bench_typed(max(50, int(ROUNDS[64] * scale)))
    results["typed_64b_us"] = {k: {"p50": statistics.median(v), "p99": percentile(v, 0.99)} for k, v in typed.items()}
    results["tick_overhead"] = bench_tick_overhead(int(200_000 * scale))
    results["throughput_1mib"] = bench_throughput(seconds=3.0 * scale + 0.5)
    results["jitter_1khz"] = {
        "gc_enabled": bench_jitter(True, 5.0 * scale + 0.5),
        "gc_disabled": bench_jitter(False, 5.0 * scale + 0.5),
        "demo_motor_python": bench_motor_jitter(False, 5.0 * scale + 0.5),
        "demo_motor_compiled": bench_motor_jitter(True, 5.0 * scale + 0.5),
    }
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    print(f"{'one-way latency (us)':<24}{'horus p50/p99':>18}{'Pipe p50/p99':>18}{'zmq p50/p99':>18}{'Pipe/horus':>12}")
    for size, row in r["latency_us"].items():
        label = "64 B" if size == "64" else "1 MiB"
        cells = [f"{row[k]['p50']:.1f}/{row[k]['p99']:.1f}" for k in ("horus", "pipe", "zmq")]
        ratio = row["pipe"]["p50"] / row["horus"]["p50"]
        print(f"{label:<24}{cells[0]:>18}{cells[1]:>18}{cells[2]:>18}{ratio:>11.1f}x")
    print("\n64 B typed one way (us, p50/p99): horus.Pose3D, echoed by a C or Python node, against a dict")
    labels = {
        "typed_c_echo": "typed, Python <-> C node",
        "typed": "typed message, recv()",
        "typed_recv_into": "typed message, recv_into()",
        "dict": "dict, recv() (today's path)",
        "pipe_dict": "dict over Pipe (pickle)",
    }
    for key, label in labels.items():
        cell = r["typed_64b_us"][key]
        print(f"  {label:<30}{cell['p50']:>8.1f}/{cell['p99']:.1f}")
    o = r["tick_overhead"]
    print(
        f"\nper-tick overhead (us)\n"
        f"  stats + registry record, one native call {o['stats_and_registry_us']:>6.2f}"
        f"   (counting {o['stats_record_us']:.2f}, the record's write {o['registry_publish_us']:.2f})\n"
        f"  one log line to stderr (fd 2: /dev/null) {o['log_line_us']:>6.2f}"
        f"   (the ring alone {o['log_ring_only_us']:.2f}, the stderr line alone {o['log_stderr_only_us']:.2f})\n"
        f"  total                                    {o['total_us']:>6.2f}   (target < 2 us)\n"
        f"  one log line to journald instead         {o['log_journald_us']:>6.2f}   (under systemd; not in the total)\n"
        f"    its datagram's system call alone       {o['journald_datagram_alone_us']:>6.2f}   (os.write, connected)"
    )
    t = r["throughput_1mib"]
    print(f"\n1 MiB throughput: {t['gb_per_s']:.2f} GB/s ({t['messages']} delivered, {t['missed']} lost)")
    for mode, j in r["jitter_1khz"].items():
        every = " (every 10th, from motor.status)" if mode.startswith("demo_motor") else ""
        print(
            f"1 kHz tick jitter, {mode.replace('_', ' ')}: p50 {j['p50_us']:.1f} us, p99 {j['p99_us']:.1f} us, "
            f"max {j['max_us']:.1f} us over {j['ticks']} ticks{every}"
        )


if __name__ == "__main__":
    sys.exit(main())
