"""`horus fleet status` and `horus doctor -i` against a deployed light robot and one that is gone.

One fleet-amd64 robot gets a release with `ansible/deploy.yml`; the inventory also names a robot
that no longer answers (nothing listens where it points). The robot's node process is killed once
(systemd restarts it: one restart since the deploy), then its unit is stopped (unhealthy). The
status table and its JSON must list both robots, in inventory order, each as it is at that moment;
the doctor's live checks pass the robot while it serves and fail it once its unit is stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BootRobots
from deploying import bundle, copy_image, dump_units, playbook, wait_health, write_inventory

from horus_pipeline.sim.robot import Robot

pytestmark = pytest.mark.e2e

IMAGE = "fleet-amd64"
UNIT = "fleet-beat.service"
GONE = "gone-robot-1"  # in the inventory, but SSH to it is refused


def horus(*args: str) -> subprocess.CompletedProcess[str]:
    """The operator's `horus` command of this environment (horus_core's CLI, delegating to the pipeline)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("horus")), *args], capture_output=True, text=True, timeout=120
    )


def wait_restarted(robot: Robot, timeout: float = 30) -> None:
    """Until systemd has restarted the killed unit once and it runs again."""
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = robot.ssh(f"systemctl show -p ActiveState,NRestarts {UNIT}", check=False).stdout
        if "ActiveState=active" in out and "NRestarts=1" in out:
            return
        time.sleep(0.5)
    raise AssertionError(f"{UNIT} was not restarted by systemd within {timeout}s: {out}")


def with_gone_robot(inventory: Path) -> Path:
    """The inventory with a second robot after the first, at an address where SSH is refused."""
    data = json.loads(inventory.read_text())
    data["robots"]["hosts"][GONE] = {"ansible_host": "127.0.0.1", "ansible_port": 9, "horus_image": IMAGE}
    inventory.write_text(json.dumps(data, indent=1) + "\n")
    return inventory


def status(inventory: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`horus fleet status` as JSON and as the table (the table printed for the log)."""
    table = horus("fleet", "status", "-i", str(inventory)).stdout.splitlines()
    print("\n".join(table))
    return horus("fleet", "status", "-i", str(inventory), "--json"), table


def live_checks(inventory: Path, robot: Robot) -> dict[str, str]:
    doctor = horus("doctor", IMAGE, "-i", str(inventory), "--limit", robot.name, "--json")
    live = [c for c in json.loads(doctor.stdout)["checks"] if c["group"] == "live"]
    print(json.dumps(live, indent=1))
    return {c["id"]: c["status"] for c in live if robot.name in c["title"]}


def test_fleet_status_lists_every_robot_as_it_is(boot_robots: BootRobots, tmp_path: Path) -> None:
    copy_image(IMAGE, tmp_path / "repo")
    release = bundle(tmp_path / "repo", IMAGE, tmp_path / "bundles")
    (robot,) = boot_robots(IMAGE, 1)
    inventory = write_inventory(tmp_path / "inventory.yml", [robot], horus_robot_bundles_dir=str(tmp_path / "bundles"))
    run = playbook(inventory, [robot], "-e", f"release={release}")
    assert run.rc == 0, run.output[-3000:]
    try:
        assert wait_health(robot) == 200
        robot.ssh(f"systemctl kill -s KILL {UNIT}")
        wait_restarted(robot)
        assert wait_health(robot) == 200
    except AssertionError:
        print(dump_units(robot, "fleet"))
        raise
    with_gone_robot(inventory)

    start = time.monotonic()
    served, table = status(inventory)
    seconds = time.monotonic() - start
    print(f"fleet status of 2 robots (one gone): {seconds:.1f}s")
    assert served.returncode == 1, served.stderr  # not all healthy: one is gone
    first, gone = json.loads(served.stdout)
    assert [r["host"] for r in (first, gone)] == [robot.name, GONE]
    assert first["answered"] and first["healthy"], first
    (app,) = first["apps"]
    assert (app["name"], app["image"], app["current"]) == ("fleet", IMAGE, release)
    assert app["state"] in ("healthy", "confirmed")
    assert app["health"] == 200 and app["restarts"] == 1
    assert [(u["name"], u["state"]) for u in app["units"]] == [(UNIT, "active/running")]
    assert [n["name"] for n in app["nodes"]] == ["beat"] and app["errors"] == 0
    assert first["disk_free"] > 0 and time.time() - app["deployed_at"] < 3600
    assert not gone["answered"] and gone["error"] and gone["apps"] == []
    rows = {line.split()[0]: line for line in table[1:-1]}
    assert list(rows) == [robot.name, GONE]
    assert "1/1 active" in rows[robot.name] and release in rows[robot.name]
    assert "NO ANSWER" in rows[GONE]
    assert table[-1] == "2 robot(s): 1 answered, 1 healthy, 1 no answer"
    passed = {"live.unit": "pass", "live.health": "pass", "live.monitor": "pass", "live.journald": "pass"}
    assert live_checks(inventory, robot).items() >= passed.items()

    robot.ssh(f"systemctl stop {UNIT}")
    stopped, table = status(inventory)
    assert stopped.returncode == 1
    first, _ = json.loads(stopped.stdout)
    assert first["answered"] and not first["healthy"]
    (app,) = first["apps"]
    assert app["current"] == release and app["health"] is None
    assert [(u["name"], u["state"]) for u in app["units"]] == [(UNIT, "inactive/dead")]
    assert "0/1 active (beat:inactive)" in table[1] and "no answer" in table[1]
    assert table[-1] == "2 robot(s): 1 answered, 0 healthy, 1 no answer"
    checks = live_checks(inventory, robot)
    assert checks["live.unit"] == "fail" and checks["live.health"] == "fail"
