"""`ansible/deploy.yml` installs the demo robot on an amd64 and an arm64 simulated robot.

One deploy per robot (module scope: the arm64 one runs torch under qemu-user), then what an
operator would check: every node process active as the service user, health 200, node logs
in the journal by HORUS_NODE, `horus monitor` seeing the motor and safety nodes tick (compiled on
demo-arm64, Python on demo-amd64), journald retention in effect, the real-time node on SCHED_FIFO
with its memory locked, the `horus` command, units that pass `systemd-analyze verify` with a
low exposure, a second run that changes nothing, a SIGKILLed node restarted by systemd.
And the proof that the release the robot assembled is whole: every module of every locked
package imports there (arm64: real aarch64 code under qemu-user), and the unpacked layers
hold exactly what their archives hold.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploying import ARM64_IMAGE, Deploy, Run, dump_units, health, playbook, start_deploy, wait_health

from horus_pipeline.images import ImageSpec
from horus_pipeline.sim.fleet import Sim
from horus_pipeline.sim.robot import Robot

pytestmark = pytest.mark.e2e

EXPOSURE_GOAL = 2.5


@dataclass
class Deployed:
    robot: Robot
    spec: ImageSpec
    inventory: Path
    release: str
    run: Run
    bundle: Path  # <bundles>/<image>: layers/, releases/

    @property
    def manifest(self) -> dict:
        return json.loads((self.bundle / "releases" / f"{self.release}.json").read_text())

    @property
    def units(self) -> list[str]:
        return [f"{self.spec.app_name}-{s.name}.service" for s in self.spec.services]

    def sh(self, command: str) -> str:
        return self.robot.ssh(command).stdout.strip()


@pytest.fixture(scope="module", params=["demo-amd64", "demo-arm64"])
def deployed(request: pytest.FixtureRequest, sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """A robot of the image after a fresh deploy; it is stopped once the module's checks of it are done.

    The demo-arm64 deploy (minutes: every robot-side step runs under qemu-user) starts at the
    first end-to-end test and runs while other end-to-end tests do (conftest.py: `arm64_deploy`).
    """
    image = request.param
    d: Deploy = (
        request.getfixturevalue("arm64_deploy")
        if image == ARM64_IMAGE
        else start_deploy(sim, image, tmp_path_factory.mktemp(image))
    )
    try:
        run = d.run.result()
        print(d.log.read_text(), end="")
        if run.rc != 0:
            print(dump_units(d.robot, d.spec.app_name))
        assert run.rc == 0, f"deploy of {image} failed:\n{run.output[-4000:]}"
        print(f"{image}: fresh deploy {run.seconds:.1f} s, {run.sent[d.robot.name] / 2**20:.1f} MiB sent")
        yield Deployed(d.robot, d.spec, d.inventory, d.release, run, d.bundle)
    finally:
        d.sim.stop([d.robot])


@pytest.fixture(autouse=True)
def units_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test's output ends with the state and journal of the robot's units."""
    yield
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.failed and "deployed" in request.fixturenames:
        d: Deployed = request.getfixturevalue("deployed")
        print(dump_units(d.robot, d.spec.app_name))


def test_every_node_process_runs_as_the_service_user(deployed: Deployed) -> None:
    for unit in deployed.units:
        state = deployed.sh(f"systemctl show -P ActiveState {unit}")
        pid = deployed.sh(f"systemctl show -P MainPID {unit}")
        assert state == "active", f"{unit}: {state}"
        assert deployed.sh(f"ps -o user= -p {pid}") == deployed.spec.user
    assert deployed.sh("readlink /opt/demo/current") == f"releases/{deployed.release}"


def test_health_endpoint_answers_200(deployed: Deployed) -> None:
    assert health(deployed.robot, deployed.spec.health.port) == 200


def test_node_logs_in_the_journal_by_node(deployed: Deployed) -> None:
    nodes = set(deployed.sh("journalctl -F HORUS_NODE").split())
    assert {"motor", "camera"} <= nodes, nodes
    motor = deployed.sh(f"journalctl -u {motor_unit(deployed)} HORUS_NODE=motor -o cat --no-pager")
    assert "motor controller at" in motor


def test_journald_retention_in_effect(deployed: Deployed) -> None:
    config = deployed.sh("systemd-analyze cat-config systemd/journald.conf")
    assert "# /etc/systemd/journald.conf.d/demo.conf" in config
    assert f"SystemMaxUse={deployed.spec.journald.system_max_use}" in config
    assert f"MaxRetentionSec={deployed.spec.journald.max_retention}" in config


def test_realtime_node_on_sched_fifo_with_memory_locked(deployed: Deployed) -> None:
    (rt,) = [s for s in deployed.spec.services if s.realtime]
    pid = deployed.sh(f"systemctl show -P MainPID demo-{rt.name}.service")
    assert "SCHED_FIFO" in deployed.sh(f"chrt -p {pid}")
    locked_kb = int(deployed.sh(f"awk '/^VmLck/ {{print $2}}' /proc/{pid}/status"))
    assert locked_kb > (1_000 if rt.program else 10_000), f"VmLck {locked_kb} kB"  # C: a small process


def test_horus_sbom_on_the_robot_lists_what_the_release_installed(deployed: Deployed) -> None:
    doc = json.loads(deployed.sh("horus sbom"))
    versions = {c["name"]: c["version"] for c in doc["components"]}
    wheels = [la for la in deployed.manifest["layers"] if la["kind"] in ("package", "core")]
    assert versions == {la["name"]: la["version"] for la in wheels}
    hashes = {c["name"]: c["hashes"][0]["content"] for c in doc["components"]}
    assert hashes == {la["name"]: la["source_sha256"] for la in wheels}
    print(f"{deployed.spec.name} SBOM: {len(json.dumps(doc)) // 1024} KiB, {len(versions)} packages")
    assert "numpy" in deployed.sh("horus sbom --components")


def motor_unit(deployed: Deployed) -> str:
    """The unit whose process runs the motor node: its own when compiled, else the Python control process's."""
    return "demo-motor.service" if any(s.name == "motor" for s in deployed.spec.services) else "demo-control.service"


def test_horus_monitor_sees_every_node_ticking_in_the_variant_the_image_chose(deployed: Deployed) -> None:
    nodes = {n["node"]: n for n in json.loads(deployed.sh("horus monitor --once --json"))}
    assert {"motor", "safety", "camera", "planner"} <= set(nodes), sorted(nodes)
    for node in ("motor", "safety"):
        row = nodes[node]  # ticking now: its record is fresh and its measured rate is the node's
        assert row["age_s"] < 1 and row["actual_rate_hz"] > row["rate_hz"] / 10, f"{node} is not ticking: {row}"
        assert row["health"] in ("healthy", "warning"), row
    unit = motor_unit(deployed)
    show = deployed.sh(f"systemctl show -p MainPID -p ExecStart {unit}")
    shown = dict(line.split("=", 1) for line in show.splitlines())
    assert shown["MainPID"] == str(nodes["motor"]["pid"])
    compiled = any(s.program for s in deployed.spec.services)
    assert ("/current/native/motor " in shown["ExecStart"]) == compiled, shown["ExecStart"]


def test_units_verify_and_have_low_exposure(deployed: Deployed) -> None:
    units = [*deployed.units, "demo.target", "horus-release-guard-demo.service"]
    files = " ".join(f"/etc/systemd/system/{u}" for u in units)
    verify = deployed.robot.ssh(f"systemd-analyze verify {files}", check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    for unit in deployed.units:
        out = deployed.sh(f"systemd-analyze security --no-pager {unit} | tail -1")
        exposure = float(out.split("level for")[1].split(":")[1].split()[0])
        print(f"{deployed.spec.name} {unit}: exposure {exposure}")
        assert exposure <= EXPOSURE_GOAL, out


IMPORT_ALL = """import importlib, sys
mods = sys.argv[1].split(",")
for m in mods:
    importlib.import_module(m)
print("imported", len(mods), "modules")"""


def test_release_imports_every_locked_module_on_the_robot(deployed: Deployed) -> None:
    manifest = deployed.manifest
    modules = sorted({m for la in manifest["layers"] if la["kind"] == "package" for m in la["modules"]})
    modules = ["horus", *modules]
    assert "torch" in modules and "numpy" in modules and "scipy" in modules
    release = f"{deployed.spec.prefix}/releases/{deployed.release}"
    assert deployed.sh("uname -m") == deployed.spec.target.arch.name
    assert deployed.sh(f"readlink {release}/venv/bin/python") == f"/usr/bin/python{deployed.spec.target.python}"
    assert "home = /usr/bin" in deployed.sh(f"cat {release}/venv/pyvenv.cfg").splitlines()
    assert deployed.sh(f"head -1 {release}/venv/bin/torchrun") == f"#!{release}/venv/bin/python"
    # As the nodes run it: the service user, from /, the release's own python.
    argv = ["runuser", "-u", deployed.spec.user, "--", f"{release}/venv/bin/python", "-c", IMPORT_ALL]
    out = deployed.robot.ssh(f"cd / && {shlex.join([*argv, ','.join(modules)])}").stdout
    assert f"imported {len(modules)} modules" in out


def test_unpacked_layers_hold_what_their_archives_hold(deployed: Deployed) -> None:
    """Nothing the robot built went into its layers: they are as the archives hold them."""
    for la in deployed.manifest["layers"]:
        with tarfile.open(deployed.bundle / la["archive"]) as tar:
            names = {m.name for m in tar.getmembers() if m.isreg()}
        unpacked = deployed.robot.root / deployed.spec.prefix.lstrip("/") / "layers" / la["hash"]
        assert {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()} == names, la["name"]


# amd64 only (and the fleet robot): under qemu-user the same no-op tasks cost minutes of CI.
@pytest.mark.parametrize("deployed", ["demo-amd64"], indirect=True)
def test_second_run_changes_nothing(deployed: Deployed) -> None:
    run = playbook(deployed.inventory, [deployed.robot], "-e", f"release={deployed.release}")
    print(f"{deployed.spec.name}: no-op deploy {run.seconds:.1f} s, {run.sent[deployed.robot.name] / 1024:.0f} KiB")
    assert run.rc == 0 and run.changed(deployed.robot.name) == 0


def test_sigkilled_node_is_restarted_by_systemd(deployed: Deployed) -> None:
    unit = "demo-planner.service"
    pid = deployed.sh(f"systemctl show -P MainPID {unit}")
    deployed.sh(f"kill -KILL {pid}")
    deadline = time.monotonic() + 180
    new = pid
    while time.monotonic() < deadline:
        new = deployed.sh(f"systemctl show -P MainPID {unit}")
        if new not in ("0", pid) and deployed.sh(f"systemctl show -P ActiveState {unit}") == "active":
            break
        time.sleep(1)
    assert new not in ("0", pid), f"{unit} was not restarted"
    assert deployed.sh(f"systemctl show -P NRestarts {unit}") == "1"
    assert wait_health(deployed.robot, 120, deployed.spec.health.port) == 200


def test_fleet_status_sees_every_unit_python_and_compiled(deployed: Deployed) -> None:
    """`nox -s fleet` finds the app's units from what the deploy wrote, so demo-arm64's compiled motor
    and safety units are counted beside its Python ones, and the robot answers in time under qemu-user
    (the runtime's answers are asked side by side)."""
    argv = [sys.executable, "-m", "horus_pipeline.fleet", "status", "-i", str(deployed.inventory), "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    (robot,) = json.loads(proc.stdout)
    assert robot.get("error") is None and len(robot["apps"]) == 1, robot
    (app,) = robot["apps"]
    assert [u["name"] for u in app["units"]] == sorted(deployed.units), proc.stderr
    assert {u["state"] for u in app["units"]} == {"active/running"}, app["units"]
