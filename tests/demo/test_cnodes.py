"""The demo's compiled motor and safety nodes (apps/demo/cnodes/) among its Python nodes.

Built as the build builds them for a robot (bundle/native.py), here for this machine's CPU and
against the installed horus_core's C API; run as processes on one namespace with Python nodes and
topics: the Python planner's CmdVel drives the C motor, whose typed status the Python safety
monitor reads, and the C safety monitor engages its EmergencyStop on its conditions.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import horus
import pytest
from conftest import APP
from horus import capi
from horus.observability import logring, registry

from horus_pipeline.bundle.native import compile_program
from horus_pipeline.targets import get_arch

if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))  # the app's nodes, as its units import them
from nodes.safety import make_safety
from nodes.topics import CMD_VEL, MOTOR_STATUS, SAFETY

Proc = subprocess.Popen[bytes]
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cnodes")
    api, sources = capi.DIR, [Path(p) for p in capi.sources()]
    arch = get_arch(platform.machine())
    for name in ("motor", "safety"):
        compile_program(APP, APP / "cnodes" / f"{name}.c", arch, api, sources, out / name)
    return {name: out / name for name in ("motor", "safety")}


@pytest.fixture
def start(ns: str) -> Iterator[Callable[..., Proc]]:
    """Start a compiled node on the test's namespace; each is killed at the end whatever happened."""
    procs: list[Proc] = []

    def run(exe: Path, **env: str) -> Proc:
        # Not the caller's systemd: a test gives a node its own notify socket, or none.
        inherited = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARIABLES}
        proc = subprocess.Popen([str(exe)], env={**inherited, **env}, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        proc.kill()
        proc.wait()


def until(what: str, check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.02)


def registered(name: str) -> dict | None:
    return next((n for n in registry.snapshot() if n["node"] == name and n["total_ticks"] > 0), None)


def test_c_motor_follows_python_cmd_vel_under_the_python_safety_monitor(
    start: Callable[..., Proc], built: dict[str, Path]
) -> None:
    status = horus.Topic(MOTOR_STATUS)
    motor = start(built["motor"])
    until("motor in the stats registry", lambda: registered("motor") is not None)
    seen: list[horus.DifferentialDriveCommand] = []

    def plan(node: horus.Node) -> None:  # the planner's output, as planner.py sends it
        node.send(CMD_VEL, horus.CmdVel(0.5, 0.0, horus.now_ns()))
        while (msg := status.recv()) is not None:
            seen.append(msg)

    planner = horus.Node(name="planner", tick=plan, rate=20, pubs={CMD_VEL: horus.CmdVel}, failure_policy="fatal")
    horus.run(planner, make_safety(), duration=1.5)
    assert seen, "no motor.status from the C motor"
    assert all(isinstance(m, horus.DifferentialDriveCommand) for m in seen)
    last = seen[-1]
    assert last.enable, "the C motor stayed stopped although the Python safety monitor was not engaged"
    assert last.left_velocity == pytest.approx(0.5, abs=0.05) and last.right_velocity == pytest.approx(0.5, abs=0.05)
    motor.send_signal(signal.SIGTERM)
    assert motor.wait(timeout=10) == 0
    assert registered("motor") is None, "the motor's registry record outlived it"
    lines = [r.message for r in logring.Reader(last=None).poll() if r.node == "motor"]
    assert "motor controller at 1000 Hz (compiled)" in lines and "motor controller stopped, wheels at zero" in lines


def test_c_motor_stops_when_the_safety_monitor_engages_or_goes_quiet(
    start: Callable[..., Proc], built: dict[str, Path]
) -> None:
    status = horus.Topic(MOTOR_STATUS)
    start(built["motor"])
    until("motor in the stats registry", lambda: registered("motor") is not None)
    cmd, safety = horus.Topic(CMD_VEL), horus.Topic(SAFETY)

    def latest(engaged: bool | None, seconds: float, linear: float = 0.8) -> horus.DifferentialDriveCommand:
        end, last = time.monotonic() + seconds, None
        while time.monotonic() < end:
            cmd.send(horus.CmdVel(linear, 0.0))
            if engaged is not None:
                safety.send(horus.EmergencyStop(engaged=engaged, reason="test" if engaged else ""))
            while (msg := status.recv()) is not None:
                last = msg
            time.sleep(0.02)
        assert last is not None
        return last

    assert latest(engaged=False, seconds=0.6).left_velocity > 0.7
    stopped = latest(engaged=True, seconds=0.6)
    assert not stopped.enable and abs(stopped.left_velocity) < 0.01
    assert latest(engaged=False, seconds=0.6).enable
    hostile = latest(engaged=False, seconds=0.4, linear=float("nan"))  # a command that is no number: stop
    assert hostile.enable and abs(hostile.left_velocity) < 0.05
    quiet = latest(engaged=None, seconds=0.6)
    assert not quiet.enable, "the C motor kept driving with no safety.state for 600 ms"


def test_c_safety_engages_on_overspeed_and_on_a_stale_status(
    start: Callable[..., Proc], built: dict[str, Path]
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    where = f"\0horus-test-{id(notify)}"
    notify.bind(where)
    notify.settimeout(10)
    state = horus.Topic(SAFETY)
    status = horus.Topic(MOTOR_STATUS)
    start(built["safety"], NOTIFY_SOCKET="@" + where[1:], WATCHDOG_USEC="100000")
    assert notify.recv(64) == b"READY=1"
    assert notify.recv(64) == b"WATCHDOG=1"

    def engaged_after(send: Callable[[], None]) -> horus.EmergencyStop:
        end, last = time.monotonic() + 0.4, None
        while time.monotonic() < end:
            send()
            while (msg := state.recv()) is not None:
                last = msg
            time.sleep(0.01)
        assert isinstance(last, horus.EmergencyStop)
        return last

    fine = engaged_after(lambda: status.send(horus.DifferentialDriveCommand(left_velocity=0.9, right_velocity=1.0)))
    assert not fine.engaged and fine.reason == "" and fine.source == "safety"
    fast = engaged_after(lambda: status.send(horus.DifferentialDriveCommand(left_velocity=2.0)))
    assert fast.engaged and fast.reason == "wheel speed 2.00 m/s over the 1 m/s limit"
    unreadable = engaged_after(lambda: status.send(horus.DifferentialDriveCommand(left_velocity=float("nan"))))
    assert unreadable.engaged and unreadable.reason == "wheel speed nan m/s over the 1 m/s limit"
    stale = engaged_after(lambda: None)
    assert stale.engaged and stale.reason.startswith("motor.status is ") and stale.reason.endswith(" ms old")
    warnings = [r.message for r in logring.Reader(last=None).poll() if r.node == "safety" and r.level == 30]
    assert "E-STOP: wheel speed 2.00 m/s over the 1 m/s limit" in warnings
    assert registered("safety")["rate_hz"] == 200  # type: ignore[index]


def test_health_vouches_for_compiled_nodes_only_while_they_tick(
    start: Callable[..., Proc], built: dict[str, Path]
) -> None:
    from horus.observability.health import health_report, metrics_text
    from prometheus_client.parser import text_string_to_metric_families

    def metrics() -> dict[str, dict[tuple[str, ...], float]]:
        families = text_string_to_metric_families(metrics_text(sched, ["motor"]))
        return {f.name: {tuple(s.labels.values()): s.value for s in f.samples} for f in families}

    sched = horus.Scheduler(tick_rate=10, name="health")
    sched.add(horus.Node(name="idle", tick=lambda node: None, rate=10, failure_policy="ignore"))
    sched.tick_once()
    assert health_report(sched, ["motor"])[1]["nodes"]["motor"]["health"] == "missing"
    motor = start(built["motor"])
    until("motor in the stats registry", lambda: registered("motor") is not None)
    report = health_report(sched, ["motor"])[1]["nodes"]["motor"]
    assert report["health"] in ("healthy", "warning") and report["total_ticks"] > 0
    ticks = metrics()["horus_node_ticks"]  # /metrics lists it beside the scheduler's own nodes
    assert ticks[("motor", "motor")] > 0 and ("health", "idle") in ticks
    motor.send_signal(signal.SIGSTOP)  # hung: its registry file stays, its ticks stop
    try:
        until("a stale motor", lambda: health_report(sched, ["motor"])[1]["nodes"]["motor"]["health"] == "missing")
        assert metrics()["horus_node_health"][("", "motor", "missing")] == 1.0
    finally:
        motor.send_signal(signal.SIGCONT)
