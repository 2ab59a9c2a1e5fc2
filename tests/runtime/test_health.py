"""horus.serve_health: /health and /metrics over real HTTP from a scheduler in another process."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import horus
import pytest
from horus_procs import Py
from prometheus_client.parser import text_string_to_metric_families

WEIRD = 'arm "left"\\1\nB'  # quote, backslash and newline: every character the label format escapes

# A robot: a steady node, a node with an awkward name, and one that fails while a flag file exists.
ROBOT = f"""
import sys, horus
from pathlib import Path
flag = Path(sys.argv[1])
def flaky(node):
    if flag.exists():
        raise RuntimeError("sensor unplugged")
sched = horus.Scheduler(tick_rate=1000)
sched.add(horus.Node(name="steady", tick=lambda n: None, rate=200))
sched.add(horus.Node(name={WEIRD!r}, tick=lambda n: None, rate=50))
policy = horus.FailurePolicy(kind="skip", max_failures=1, cooldown=0.2)
sched.add(horus.Node(name="flaky", tick=flaky, rate=100, failure_policy=policy))
server = horus.serve_health(sched, port=0)
print(server.server_address[1], flush=True)
sched.run()
server.shutdown()
"""


class Robot:
    def __init__(self, proc: subprocess.Popen[str], port: int, flag: Path) -> None:
        self.proc, self.port, self.flag = proc, port, flag

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def health(self) -> tuple[int, dict[str, Any]]:
        status, _, body = self.get("/health")
        return status, json.loads(body)

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are, return the whole answer: for requests http.client will not send."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def robot(ns: str, py: Py, tmp_path: Path) -> Iterator[Robot]:
    flag = tmp_path / "fail"
    proc = py.start(ROBOT, str(flag))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"no port from the robot: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    bot = Robot(proc, int(line), flag)
    wait_until(lambda: bot.health()[0] == 200)
    yield bot
    assert proc.poll() is None, "the robot died during the test"


def test_health_flips_to_503_when_a_node_fails_and_back_when_it_recovers(robot: Robot) -> None:
    status, report = robot.health()
    assert status == 200 and report["status"] == "ok" and report["running"]
    assert set(report["nodes"]) == {"steady", WEIRD, "flaky"}
    assert report["nodes"]["steady"]["total_ticks"] > 0 and report["safety"]["state"] == "running"

    robot.flag.touch()
    wait_until(lambda: robot.health()[0] == 503)
    status, report = robot.health()
    assert report["status"] == "unhealthy" and report["unhealthy_nodes"] == ["flaky"]
    assert (
        report["nodes"]["flaky"]["health"] == "unhealthy"
        and "sensor unplugged" in report["nodes"]["flaky"]["last_error"]
    )
    ticks = report["nodes"]["steady"]["total_ticks"]
    wait_until(lambda: robot.health()[1]["nodes"]["steady"]["total_ticks"] > ticks + 20)  # the others keep going

    robot.flag.unlink()
    wait_until(lambda: robot.health()[0] == 200)
    assert robot.health()[1]["nodes"]["flaky"]["errors_count"] > 0


def test_metrics_parse_with_the_prometheus_parser(robot: Robot) -> None:
    status, headers, body = robot.get("/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in ("horus_node_ticks", "horus_node_errors", "horus_node_deadline_misses", "horus_node_budget_overruns"):
        assert families[name].type == "counter" and families[name].documentation
    ticks = {s.labels["node"]: s.value for s in families["horus_node_ticks"].samples}
    assert set(ticks) == {"steady", WEIRD, "flaky"} and all(v > 0 for v in ticks.values())
    assert {s.labels["scheduler"] for s in families["horus_node_ticks"].samples} == {"scheduler"}

    duration = families["horus_node_tick_duration_seconds"]
    assert duration.type == "summary"
    counts = {s.labels["node"]: s.value for s in duration.samples if s.name.endswith("_count")}
    sums = {s.labels["node"]: s.value for s in duration.samples if s.name.endswith("_sum")}
    assert counts.keys() == sums.keys() == ticks.keys() and all(0 < v < 1 for v in sums.values())
    assert all(s.value >= 0 for s in families["horus_node_tick_duration_max_seconds"].samples)

    health = [s for s in families["horus_node_health"].samples if s.labels["node"] == "steady"]
    assert {s.labels["state"]: s.value for s in health if s.value} in ({"healthy": 1.0}, {"warning": 1.0})
    assert len(health) == 6
    assert families["horus_scheduler_running"].samples[0].value == 1
    assert families["process_resident_memory_bytes"].samples[0].value > 4 << 20
    # Not a deployed release: the series is there (alerts can count it), its release empty.
    assert [(s.labels, s.value) for s in families["horus_release_info"].samples] == [({"running_release": ""}, 1)]
    disk = shutil.disk_usage(sys.prefix)  # the robot runs this interpreter: same venv, same filesystem
    assert families["horus_disk_size_bytes"].samples[0].value == disk.total
    assert 0 < families["horus_disk_free_bytes"].samples[0].value <= disk.total


def test_metrics_name_the_release_the_process_runs(ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(horus.observability.health, "RELEASE", "3f0c9a1b2c3d4e5f")
    text = horus.observability.health.metrics_text(horus.Scheduler().add(horus.Node(name="idle", tick=lambda n: None)))
    assert 'horus_release_info{running_release="3f0c9a1b2c3d4e5f"} 1.0' in text.splitlines()


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:80]
    return int(answer.split(b" ", 2)[1])


def test_bad_requests_get_4xx_and_never_disturb_the_scheduler(robot: Robot) -> None:
    before = robot.health()[1]["nodes"]["steady"]["total_ticks"]
    # A client that connects and stalls holds only its own thread.
    stalled = socket.create_connection(("127.0.0.1", robot.port))
    stalled.sendall(b"GET /hea")
    try:
        assert robot.get("/nope")[0] == 404
        assert robot.get("/health/")[0] == 404
        status, headers, _ = robot.get("/health", method="POST")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
        assert status_of(robot.raw(b"BREW /health HTTP/1.1\r\n\r\n")) == 405
        assert status_of(robot.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)))) == 400
        assert status_of(robot.raw(b"GET /health\r\n")) == 400  # HTTP/0.9
        assert status_of(robot.raw(b"GET /health HTTP/1.1 extra\r\n\r\n")) == 400
        assert status_of(robot.raw(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")) == 414
        status, headers, body = robot.get("/health", method="HEAD")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
        assert robot.get("/health?verbose=1")[0] == 200
    finally:
        stalled.close()
    status, report = robot.health()
    assert status == 200 and report["nodes"]["steady"]["total_ticks"] > before
    assert report["safety"]["errors"] == 0


def test_503_when_the_scheduler_is_not_running_and_shutdown_frees_the_port(ns: str) -> None:
    sched = horus.Scheduler().add(horus.Node(name="idle", tick=lambda n: None))
    server = horus.serve_health(sched, port=0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 503 and json.loads(response.read())["running"] is False
        conn.close()
        with pytest.raises(OSError, match=f"cannot serve health on 127.0.0.1:{port}: .*pick a free port"):
            horus.serve_health(sched, port=int(port))
    finally:
        server.shutdown()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_units_environment_says_where_health_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    # The deploy role puts the image's [health] host and port there; its health gate asks that port.
    sched = horus.Scheduler(tick_rate=100)
    port = free_port()
    monkeypatch.setenv("HORUS_HEALTH_HOST", "127.0.0.1")
    monkeypatch.setenv("HORUS_HEALTH_PORT", str(port))
    server = horus.serve_health(sched)
    try:
        assert server.server_address == ("127.0.0.1", port)
    finally:
        server.shutdown()
    explicit = horus.serve_health(sched, port=0)  # an argument still wins
    try:
        assert explicit.server_address[1] not in (port, 0)
    finally:
        explicit.shutdown()


def test_a_bad_health_port_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HORUS_HEALTH_PORT", "80; rm -rf /")
    with pytest.raises(ValueError, match="HORUS_HEALTH_PORT="):
        horus.serve_health(horus.Scheduler(tick_rate=100))


def threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_drip_fed_connections_are_bounded_and_cut_at_the_deadline(robot: Robot) -> None:
    from horus.observability.health import MAX_CLIENTS, REQUEST_DEADLINE

    before = threads(robot.proc.pid)
    drips = [socket.create_connection(("127.0.0.1", robot.port), timeout=30) for _ in range(MAX_CLIENTS * 3)]
    try:
        start = time.monotonic()
        while time.monotonic() - start < REQUEST_DEADLINE / 2:
            for sock in drips:
                with contextlib.suppress(OSError):
                    sock.send(b"G")  # a request that never ends, one byte at a time
            time.sleep(0.2)
        # One thread per served connection at most: the others were closed at once.
        assert threads(robot.proc.pid) <= before + MAX_CLIENTS

        def answers() -> bool:  # while every slot is taken a new client is closed at once
            try:
                return robot.health()[0] == 200
            except (http.client.HTTPException, OSError):
                return False

        wait_until(answers, timeout=REQUEST_DEADLINE + 5)  # the late ones were cut
        for sock in drips:  # every one was closed by the server, none answered
            sock.settimeout(REQUEST_DEADLINE + 5)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1024) == b""
    finally:
        for sock in drips:
            sock.close()
    assert robot.health()[1]["release"] is None  # not a deployed release: nothing to name


def test_health_names_the_release_the_process_started_from(tmp_path: Path) -> None:
    from horus.observability.health import running_release

    release = tmp_path / "opt/demo/releases/3f0c9a1b2c3d4e5f"
    (release / "venv").mkdir(parents=True)
    (release / "MANIFEST.json").write_text(json.dumps({"id": "3f0c9a1b2c3d4e5f"}))
    (tmp_path / "opt/demo/current").symlink_to("releases/3f0c9a1b2c3d4e5f")
    assert running_release(str(tmp_path / "opt/demo/current/venv")) == "3f0c9a1b2c3d4e5f"
    (release / "MANIFEST.json").write_text(json.dumps({"id": "another"}))  # not what the directory says
    assert running_release(str(tmp_path / "opt/demo/current/venv")) is None
    assert running_release(str(tmp_path)) is None
