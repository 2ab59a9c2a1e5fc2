"""The demo robot as it runs on a robot: three processes (one per unit), talking through HORUS topics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from conftest import APP, require_app

from horus_pipeline.images import load_image

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.fixture
def robot(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
    """Start every service of images/demo-amd64.toml as the units would; stop them with SIGTERM."""
    require_app()
    spec = load_image("demo-amd64")
    namespace = f"test-demo-{uuid.uuid4().hex[:8]}"
    port = free_port()
    monkeypatch.setenv("HORUS_NAMESPACE", namespace)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for service in spec.services:
        env = dict(os.environ, **service.environment, HORUS_HEALTH_PORT=str(port))
        procs[service.name] = subprocess.Popen(
            [sys.executable, "-u", str(APP / service.script)], cwd=APP, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}{spec.health.path}", procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        subprocess.run(["rm", "-rf", f"/dev/shm/horus.{namespace}"], check=False)


def test_robot_runs_healthy_and_stops_cleanly(robot: tuple[str, dict[str, subprocess.Popen[bytes]]]) -> None:
    import horus
    from nodes.topics import MOTOR_STATUS, PATH, SAFETY, memory_topic

    url, procs = robot
    deadline = time.monotonic() + 90  # torch's first import is slow on a cold cache
    status, health = 0, {}
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited: {proc.communicate()[0].decode()[-2000:]}"
        try:
            status, health = get_health(url)
        except (urllib.error.URLError, ConnectionError):
            status = 0
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, f"health never turned 200: {health}"

    # Listen to the robot for a while, as `horus monitor` would.
    got: dict[str, list] = {t: [] for t in (PATH, MOTOR_STATUS, SAFETY)}
    memory = {p: memory_topic(p) for p in procs}
    got.update({t: [] for t in memory.values()})

    def listen(node: horus.Node) -> None:
        for topic in got:
            while node.has_msg(topic):
                got[topic].append(node.recv(topic))

    listener = horus.Node(name="listener", tick=listen, rate=200, subs=list(got), failure_policy="fatal")
    start = get_health(url)[1]["nodes"]["motor"]["total_ticks"]
    horus.run(listener, duration=4.0)
    end_status, end = get_health(url)
    motor_rate = (end["nodes"]["motor"]["total_ticks"] - start) / 4.0

    assert end_status == 200
    assert motor_rate > 500, f"motor ticked at {motor_rate:.0f} Hz (1000 wanted)"
    assert got[PATH], "no path from the planner: camera -> inference -> planner is broken"
    assert any(s.enable and (s.left_velocity or s.right_velocity) for s in got[MOTOR_STATUS]), "motor never drove"
    assert got[SAFETY] and not any(s.engaged for s in got[SAFETY][-10:])
    for process, topic in memory.items():
        assert got[topic] and got[topic][-1]["rss_mb"] > 1, f"no RSS from {process}"

    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        out = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 0, f"{name} exited {proc.returncode} on SIGTERM:\n{out[-2000:]}"
