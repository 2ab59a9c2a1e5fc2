"""Operating a robot: horus logs, monitor, clean and build across every process of a namespace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import horus
import pytest
from horus import _core
from horus.messaging import namespace
from horus.observability import blackbox, logring, registry
from horus_procs import Py, wait_line

NODE_PROCESS = """
import sys, horus
name = sys.argv[1]
def tick(node):
    if node.tick_count < 3:
        node.log_info(f"{name} info {node.tick_count}")
        node.log_warning(f"{name} warning {node.tick_count}")
        node.log_debug(f"{name} debug {node.tick_count}")
    if node.tick_count == 5:
        print("ticking", flush=True)
    node.send(f"{name}.out", {"t": node.tick_count})
horus.run(horus.Node(name=name, tick=tick, rate=200, pubs=[f"{name}.out"]), name=f"{name}-sched")
"""


def horus_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "horus.cli.main", *args], capture_output=True, text=True, timeout=timeout
    )


def read_lines(proc: subprocess.Popen[str], n: int, timeout: float) -> list[str]:
    """Up to n lines of proc's stdout, giving up after timeout seconds."""
    import queue
    import threading

    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    out: list[str] = []
    try:
        while len(out) < n:
            out.append(lines.get(timeout=timeout))
    except queue.Empty:
        pass
    return out


def start_nodes(py: Py, *names: str) -> list[subprocess.Popen[str]]:
    procs = [py.start(NODE_PROCESS, name) for name in names]
    for proc in procs:
        wait_line(proc, "ticking")
    return procs


def test_logs_from_every_process_with_filters(ns: str, py: Py) -> None:
    start_nodes(py, "camera", "planner")
    everything = horus_cli("logs").stdout.splitlines()
    assert sum("camera info" in line for line in everything) == 3
    assert sum("planner warning" in line for line in everything) == 3
    camera_warnings = horus_cli("logs", "--node", "camera", "--level", "warning").stdout.splitlines()
    assert len(camera_warnings) == 3 and all("camera warning" in line and "WARNING" in line for line in camera_warnings)
    assert len(horus_cli("logs", "-n", "2").stdout.splitlines()) == 2
    records = [json.loads(line) for line in horus_cli("log", "--json", "--node", "planner").stdout.splitlines()]
    assert {r["level"] for r in records} == {"INFO", "WARNING", "DEBUG"}
    assert all(r["node"] == "planner" and r["pid"] > 0 and "tick" in r for r in records)
    assert horus_cli("logs", "--since", "1h").stdout.count("\n") == 18
    assert horus_cli("logs", "--since", "1h").stdout == horus_cli("logs").stdout


@pytest.mark.parametrize(
    ("inherited", "stop"),
    [(signal.SIG_DFL, signal.SIGINT), (signal.SIG_IGN, signal.SIGINT), (signal.SIG_IGN, signal.SIGTERM)],
    ids=["ctrl-c", "ctrl-c-in-a-background-job", "sigterm"],
)
def test_logs_follow_prints_new_records_and_stops_when_asked(
    ns: str, py: Py, inherited: signal.Handlers, stop: signal.Signals
) -> None:
    # A shell's background job starts with SIGINT ignored; the follower must stop all the same.
    follower = subprocess.Popen(
        [sys.executable, "-m", "horus.cli.main", "logs", "-f", "--level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherited),
    )
    try:
        start_nodes(py, "lidar")
        lines = read_lines(follower, 3, timeout=20)
        assert [line.split("lidar warning ", 1)[-1].strip() for line in lines] == ["0", "1", "2"], lines
        follower.send_signal(stop)
        assert follower.wait(10) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def test_the_ring_keeps_the_newest_records_from_many_writers(ns: str, py: Py) -> None:
    writer = """
import os, sys
from horus.observability import log
sys.stderr = open(os.devnull, "w")  # only the ring matters here
for i in range(3000):
    log.emit(log.INFO, sys.argv[1], i, f"{sys.argv[1]} record {i} " + "x" * (i % 300))
"""
    procs = [py.start(writer, f"w{i}") for i in range(4)]
    for proc in procs:
        assert proc.wait(60) == 0
    reader = logring.Reader(last=None)
    records = list(reader.poll())
    assert reader.ring.head == 12000
    # The ring holds the newest 4096; a record lost to two writers racing for a slot counts as missed.
    assert len(records) + reader.missed == reader.ring.capacity == 4096
    assert len(records) >= 4096 - 64
    for rec in records:
        i = rec.tick
        assert rec.message == f"{rec.node} record {i} " + "x" * (i % 300)


def test_a_long_message_is_cut_and_marked(ns: str) -> None:
    from horus.observability import log

    log.emit(log.ERROR, "n", 1, "y" * 5000)
    (rec,) = list(logring.Reader(last=1).poll())
    assert rec.truncated and rec.message == "y" * 427


def test_monitor_snapshot_shows_every_node_of_every_process(ns: str, py: Py) -> None:
    procs = start_nodes(py, "camera", "motor")
    nodes = json.loads(horus_cli("monitor", "--once", "--json").stdout)
    by_name = {n["node"]: n for n in nodes}
    assert set(by_name) == {"camera", "motor"}
    assert {n["pid"] for n in nodes} == {p.pid for p in procs}
    for n in nodes:
        assert n["state"] == "running" and n["total_ticks"] > 5 and n["rate_hz"] == 200
        assert n["health"] in ("healthy", "warning") and n["actual_rate_hz"] > 50
    table = horus_cli("monitor", "--once").stdout
    assert "camera" in table and "motor" in table


def test_monitor_prints_its_table_where_rich_is_not_installed(ns: str, py: Py) -> None:
    procs = start_nodes(py, "camera", "motor")
    without_rich = (
        "import sys; sys.modules['rich'] = None; from horus.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", without_rich, "monitor", "--once"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()[1:]
    assert header.split() == ["node", "pid", "state", "health", "rate", "ticks", "errors", "misses", "last", "ms",
                              "avg", "ms", "max", "ms"]  # fmt: skip
    by_node = {row.split()[0]: row.split() for row in rows}
    assert set(by_node) == {"camera", "motor"}
    assert {int(cells[1]) for cells in by_node.values()} == {p.pid for p in procs}
    assert all(cells[2] == "running" for cells in by_node.values())


def test_monitor_forgets_a_scheduler_that_stopped_or_died(ns: str, py: Py) -> None:
    (proc,) = start_nodes(py, "camera")
    assert len(registry.snapshot()) == 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert registry.snapshot() == []


def test_clean_frees_a_killed_process_segments_and_keeps_live_ones(ns: str, py: Py) -> None:
    dead, live = start_nodes(py, "dead", "live")
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    topics = namespace.topics_dir(ns)
    out = horus_cli("clean", "--shm")
    assert out.returncode == 0, out.stderr
    assert not (topics / "dead.out").exists() and (topics / "live.out").exists()
    assert f"removed {topics / 'dead.out'}" in out.stdout
    assert f"kept {topics / 'live.out'}" in out.stdout and "freed 1.0 MiB" in out.stdout.replace("1.1 MiB", "1.0 MiB")
    assert _core.segment_in_use(str(topics / "live.out"))
    live.send_signal(signal.SIGTERM)
    assert live.wait(10) == 0
    after = horus_cli("clean", "--shm")
    assert "kept 0 in use" in after.stdout and not namespace.directory(ns).exists()


def test_clean_dry_run_removes_nothing_and_force_removes_live(ns: str, py: Py) -> None:
    (proc,) = start_nodes(py, "cam")
    dry = horus_cli("clean", "--shm", "--dry-run", "--force")
    assert "would remove" in dry.stdout and (namespace.topics_dir(ns) / "cam.out").exists()
    forced = horus_cli("clean", "--shm", "--force")
    assert "IN USE" in forced.stdout and not namespace.directory(ns).exists()
    proc.kill()


def test_horus_build_writes_the_pip_project(tmp_path: Path) -> None:
    (tmp_path / "horus.toml").write_text(
        '[package]\nname = "bot"\nversion = "0.1.0"\n\n[dependencies]\n'
        'numpy = { version = "1.26.4", source = "pypi" }\nscipy = { version = ">=1.12", source = "pypi" }\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "horus.cli.main", "build", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / ".horus" / "pyproject.toml").read_text()
    assert '"numpy==1.26.4"' in text and '"scipy>=1.12"' in text


def test_horus_run_runs_a_node_file_like_a_unit(ns: str, tmp_path: Path) -> None:
    node_file = tmp_path / "nodes" / "hello.py"
    node_file.parent.mkdir()
    (node_file.parent / "helper_mod.py").write_text("GREETING = 'hi from a sibling module'\n")
    node_file.write_text(
        "import helper_mod, horus\nprint(helper_mod.GREETING)\n"
        "horus.run(horus.Node(name='h', tick=lambda n: n.request_stop(), rate=10))\n"
    )
    out = horus_cli("run", str(node_file))
    assert out.returncode == 0 and "hi from a sibling module" in out.stdout


CRASHING_ROBOT = """
import time, horus
def flaky(node):
    if node.tick_count == 2:
        raise RuntimeError("sensor unplugged")
    if node.tick_count == 5:
        print("ready", flush=True)
def slow(node):
    time.sleep(0.02)
nodes = horus.Node(name="flaky", tick=flaky, rate=100), horus.Node(name="slow", tick=slow, rate=10, deadline=0.001)
horus.run(*nodes, name="robot", blackbox_mb=1)
"""


def test_the_black_box_keeps_a_killed_robots_anomalies(
    ns: str, py: Py, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HORUS_BLACKBOX_DIR", str(tmp_path / "box"))
    robot = py.start(CRASHING_ROBOT)
    wait_line(robot, "ready")
    robot.send_signal(signal.SIGKILL)
    robot.wait()
    anomalies = [json.loads(line)["event"] for line in horus_cli("blackbox", "-a", "--json").stdout.splitlines()]
    errors = [e for e in anomalies if e["type"] == "NodeError" and e["name"] == "flaky"]
    assert errors and "sensor unplugged" in errors[0]["error"]
    assert any(e["type"] == "DeadlineMiss" and e["name"] == "slow" and e["actual_us"] >= 20_000 for e in anomalies)
    assert "SchedulerStart" not in {e["type"] for e in anomalies}
    everything = horus_cli("blackbox").stdout
    assert "robot SchedulerStart node_count=2" in everything and "SchedulerStop" not in everything  # killed
    assert {line.split()[6] for line in horus_cli("blackbox", "--node", "slow").stdout.splitlines()} == {"name=slow"}
    assert horus_cli("blackbox", "--clear").returncode == 0 and horus_cli("blackbox").stdout == ""


def test_the_black_box_stays_within_its_size_and_keeps_the_newest(tmp_path: Path) -> None:
    box = blackbox.BlackBox("robot", 1, tmp_path)
    for tick in range(20_000):
        box.record(tick, "DeadlineMiss", name="motor", deadline_us=900, actual_us=1000 + tick)
    box.close()
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 1 << 20
    with (tmp_path / "robot.wal").open("a") as wal:
        wal.write('{"timestamp_us": 1, "event": "torn by a cra')  # the crash came mid-line
    ticks = [r["tick"] for r in blackbox.read(tmp_path)]
    assert ticks[-1] == 19_999 and ticks == list(range(ticks[0], 20_000)) and ticks[0] > 0


def test_a_robot_whose_black_box_cannot_be_written_runs_and_says_so(
    ns: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "box").write_text("a file where the directory should be")
    monkeypatch.setenv("HORUS_BLACKBOX_DIR", str(tmp_path / "box"))
    node = horus.Node(name="motor", tick=lambda n: None, rate=100)
    sched = horus.Scheduler(deterministic=True, blackbox_mb=1).add(node)
    sched.run(duration=0.1)
    assert sched.get_node_stats("motor")["total_ticks"] == 10
    assert "black box unavailable" in capfd.readouterr().err
