"""Telemetry export (upstream's Scheduler(telemetry=ENDPOINT)) from a robot process to UDP, a file and HTTP."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from horus_procs import Py

ROBOT = """
import sys, horus
def tick(node):
    if node.tick_count == 3:
        raise RuntimeError("glitch")
horus.run(horus.Node(name="imu", tick=tick, rate=50), name="robot", telemetry=sys.argv[1], duration=float(sys.argv[2]))
"""


def metric(snapshot: dict[str, Any], name: str, node: str | None = None) -> Any:
    labels = {"node": node} if node else {}
    (value,) = [m["value"] for m in snapshot["metrics"] if m["name"] == name and m["labels"] == labels]
    return next(iter(value.values()))


def test_snapshots_reach_a_udp_collector_while_the_robot_runs(ns: str, py: Py) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(15)
        py.start(ROBOT, f"udp://127.0.0.1:{collector.getsockname()[1]}", "60")
        snapshot = json.loads(collector.recv(65536))
        while metric(snapshot, "node_errors", "imu") == 0:  # the first may come before tick 3
            snapshot = json.loads(collector.recv(65536))
    assert snapshot["scheduler_name"] == "robot" and metric(snapshot, "nodes_active") == 1
    assert metric(snapshot, "node_errors", "imu") == 1 and metric(snapshot, "node_tick_count", "imu") > 3


def test_the_last_snapshot_stays_in_a_file_when_the_robot_stops(ns: str, py: Py, tmp_path: Path) -> None:
    out = tmp_path / "telemetry" / "robot.json"
    done = py.run(ROBOT, f"file://{out}", "0.5")
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(out.read_text())
    assert metric(snapshot, "scheduler_shutdown") == 1.0 and metric(snapshot, "node_tick_count", "imu") > 3
    assert [p.name for p in out.parent.iterdir()] == ["robot.json"]  # no temporary file left


class Collector(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_collector() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    Collector.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_snapshots_are_posted_and_a_dead_collector_is_logged_once(ns: str, py: Py, http_collector: HTTPServer) -> None:
    done = py.run(ROBOT, f"http://127.0.0.1:{http_collector.server_port}/ingest", "0.5")
    assert done.returncode == 0, done.stderr
    path, snapshot = Collector.posts[-1]
    assert path == "/ingest" and metric(snapshot, "scheduler_shutdown") == 1.0

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens here once it is closed
    done = py.run(ROBOT, f"http://127.0.0.1:{port}/ingest", "1.5")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("telemetry to") == 1, done.stderr
