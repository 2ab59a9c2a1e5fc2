"""`horus fleet status` and `horus doctor -i` against a deployed fleet of light robots.

Three fleet-amd64 robots get the same release with `ansible/deploy.yml`; then one has its node
process killed once (systemd restarts it: one restart since the deploy), one has its unit stopped
(unhealthy), and one is stopped altogether while it stays in the inventory. The status table and
its JSON must list all three, in inventory order, each as it is; the doctor's live checks pass the
first and fail the second.
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

from horus_pipeline.sim.fleet import Sim
from horus_pipeline.sim.robot import Robot

pytestmark = pytest.mark.e2e

IMAGE = "fleet-amd64"
UNIT = "fleet-beat.service"


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


def test_fleet_status_lists_every_robot_as_it_is(boot_robots: BootRobots, sim: Sim, tmp_path: Path) -> None:
    copy_image(IMAGE, tmp_path / "repo")
    release = bundle(tmp_path / "repo", IMAGE, tmp_path / "bundles")
    robots = boot_robots(IMAGE, 3)
    inventory = write_inventory(tmp_path / "inventory.yml", robots, horus_robot_bundles_dir=str(tmp_path / "bundles"))
    run = playbook(inventory, robots, "-e", f"release={release}")
    assert run.rc == 0, run.output[-3000:]
    restarted, unhealthy, stopped = robots
    try:
        assert wait_health(restarted) == 200
        restarted.ssh(f"systemctl kill -s KILL {UNIT}")
        wait_restarted(restarted)
        assert wait_health(restarted) == 200
        unhealthy.ssh(f"systemctl stop {UNIT}")
    except AssertionError:
        print(dump_units(restarted, "fleet"))
        raise
    sim.stop([stopped])  # gone, but still in the inventory

    start = time.monotonic()
    status = horus("fleet", "status", "-i", str(inventory), "--json")
    seconds = time.monotonic() - start
    print(f"fleet status of 3 robots (one stopped): {seconds:.1f}s")
    assert status.returncode == 1, status.stderr  # not all healthy
    first, second, third = json.loads(status.stdout)
    assert [r["host"] for r in (first, second, third)] == [r.name for r in robots]

    assert first["answered"] and first["healthy"], first
    (app,) = first["apps"]
    assert (app["name"], app["image"], app["current"]) == ("fleet", IMAGE, release)
    assert app["state"] in ("healthy", "confirmed")
    assert app["health"] == 200 and app["restarts"] == 1
    assert [(u["name"], u["state"]) for u in app["units"]] == [(UNIT, "active/running")]
    assert [n["name"] for n in app["nodes"]] == ["beat"] and app["errors"] == 0
    assert first["disk_free"] > 0 and time.time() - app["deployed_at"] < 3600

    assert second["answered"] and not second["healthy"]
    (app,) = second["apps"]
    assert app["current"] == release and app["health"] is None
    assert [(u["name"], u["state"]) for u in app["units"]] == [(UNIT, "inactive/dead")]

    assert not third["answered"] and third["error"] and third["apps"] == []

    table = horus("fleet", "status", "-i", str(inventory)).stdout.splitlines()
    print("\n".join(table))
    rows = {line.split()[0]: line for line in table[1:-1]}
    assert list(rows) == [r.name for r in robots]
    assert "1/1 active" in rows[restarted.name] and release in rows[restarted.name]
    assert "0/1 active (beat:inactive)" in rows[unhealthy.name] and "no answer" in rows[unhealthy.name]
    assert "NO ANSWER" in rows[stopped.name]
    assert table[-1] == "3 robot(s): 2 answered, 1 healthy, 1 no answer"

    doctor = horus("doctor", IMAGE, "-i", str(inventory), "--limit", f"{restarted.name},{unhealthy.name}", "--json")
    live = [c for c in json.loads(doctor.stdout)["checks"] if c["group"] == "live"]
    by_robot = {
        name: {c["id"]: c["status"] for c in live if name in c["title"]} for name in (restarted.name, unhealthy.name)
    }
    print(json.dumps(live, indent=1))
    passed = {"live.unit": "pass", "live.health": "pass", "live.monitor": "pass", "live.journald": "pass"}
    assert by_robot[restarted.name].items() >= passed.items(), live
    assert by_robot[unhealthy.name]["live.unit"] == "fail" and by_robot[unhealthy.name]["live.health"] == "fail"
    assert seconds < 10
