"""`horus fleet status` without robots: the inventory as Ansible reads it, real ssh to robots that
cannot answer, and the parsing and rendering of answers captured from simulated robots.

answers/*.json are probe.py's output on robots of tests/e2e/test_fleet_status.py, captured as is:
fleet-amd64-1 (healthy, its node killed once and restarted by systemd), fleet-amd64-2 (its unit
stopped) and demo-arm64-1 (units installed, no release switched yet: mid first deploy).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from horus_pipeline.doctor.live import robot_checks
from horus_pipeline.doctor.report import Report
from horus_pipeline.fleet.cli import behind
from horus_pipeline.fleet.inventory import Host, load_inventory, ssh_argv
from horus_pipeline.fleet.status import PROBE, RobotStatus, parse, query, release_state
from horus_pipeline.fleet.table import ago, human_bytes, render
from horus_pipeline.images import load_image

ANSWERS = Path(__file__).with_name("answers")
INVENTORY = """\
all:
  children:
    lab:
      hosts:
        bench-1:
          ansible_host: 10.1.0.11
          horus_image: demo-amd64
    field:
      children:
        north:
          hosts:
            truck-7:
              ansible_host: truck-7.example
              ansible_port: 2222
              ansible_user: robot
              ansible_become: true
      vars:
        ansible_ssh_extra_args: "-o ProxyJump=gw.example"
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: /keys/fleet
    ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o 'UserKnownHostsFile=/dev/null'"
"""


def answer(name: str) -> dict[str, object]:
    return json.loads((ANSWERS / f"{name}.json").read_text())


def host(name: str) -> Host:
    return Host(name=name, address="198.18.0.2")


def test_the_inventory_is_read_as_ansible_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY)
    bench, truck = load_inventory(path)
    assert bench == Host(
        name="bench-1", address="10.1.0.11", user="root", key="/keys/fleet",
        ssh_args=("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"), image="demo-amd64",
    )  # fmt: skip
    assert (truck.address, truck.port, truck.user) == ("truck-7.example", 2222, "robot")  # host vars win
    assert truck.ssh_args[-2:] == ("-o", "ProxyJump=gw.example")  # a group's extra args
    assert [h.name for h in load_inventory(path, "field")] == ["truck-7"]
    assert truck.become and not bench.become


def test_ssh_connects_as_ansible_would_and_never_prompts() -> None:
    h = Host(name="t", address="truck-7.example", port=2222, user="robot", key="/keys/fleet", ssh_args=("-o", "X=y"))
    argv = ssh_argv(h, ["/usr/bin/python3", "-", "--shm"], connect_timeout=4)
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=4"]
    assert argv[5:] == ["-p", "2222", "-l", "robot", "-i", "/keys/fleet", "-o", "X=y", "--", "truck-7.example",
                        "/usr/bin/python3 - --shm"]  # fmt: skip
    become = ssh_argv(Host(name="t", address="t.example", become=True), ["/usr/bin/python3", "-"], connect_timeout=4)
    assert become[-1] == "sudo -n -- /usr/bin/python3 -"  # root as Ansible's tasks are, never a password prompt


def test_robots_that_do_not_answer_are_listed_in_order_never_dropped() -> None:
    refused = Host(name="refused", address="127.0.0.1", port=1)  # nothing listens: refused at once
    silent = Host(name="silent", address="192.0.2.1")  # TEST-NET-1: never routed, the timeout ends it
    start = time.monotonic()
    robots = query([silent, refused], timeout=2)
    assert time.monotonic() - start < 4  # in parallel, each within its timeout
    assert [r.host for r in robots] == ["silent", "refused"]
    assert not any(r.answered for r in robots)
    assert "refused" in (robots[1].error or "").lower()
    table = render(robots)
    assert "silent" in table and "NO ANSWER" in table.splitlines()[2]
    assert table.endswith("2 robot(s): 0 answered, 0 healthy, 2 no answer")


def test_a_healthy_robot_answer() -> None:
    robot = parse(host("fleet-amd64-1"), answer("fleet-amd64-1"), 0.4)
    assert robot.answered and robot.healthy and robot.hostname == "fleet-amd64-1"
    (app,) = robot.apps
    assert (app.name, app.image, app.current, app.previous) == ("fleet", "fleet-amd64", "556e4f31e5ef026e", None)
    assert app.state == "confirmed" and app.health == 200 and app.restarts == 1
    assert [(n.name, n.health, n.errors, n.deadline_misses) for n in app.nodes] == [("beat", "healthy", 0, 0)]
    assert robot.stale_shm == ["would remove /dev/shm/horus.fleet/stats/494.0 (4.0 KiB)"]
    data = robot.as_dict()
    json.dumps(data)
    assert data["healthy"] and data["apps"][0]["restarts"] == 1 and data["apps"][0]["errors"] == 0


@pytest.mark.parametrize(("node_health", "healthy"), [("warning", True), ("unhealthy", False), ("failed", False)])
def test_a_node_is_judged_as_the_robot_s_health_endpoint_judges_it(node_health: str, healthy: bool) -> None:
    """Deadline misses make a node "warning": its robot still answers 200 and is healthy here too."""
    data = answer("fleet-amd64-1")
    for node in data["apps"]["fleet"]["monitor"]["nodes"]:  # type: ignore[index]
        node["health"] = node_health
    assert parse(host("fleet-amd64-1"), data, 0.4).healthy is healthy


def test_a_robot_whose_unit_is_stopped_is_unhealthy() -> None:
    robot = parse(host("fleet-amd64-2"), answer("fleet-amd64-2"))
    (app,) = robot.apps
    assert robot.answered and not robot.healthy
    assert [u.state for u in app.units] == ["inactive/dead"] and app.health is None and app.nodes == []


def test_a_robot_mid_first_deploy_has_units_but_no_release() -> None:
    robot = parse(host("demo-arm64-1"), answer("demo-arm64-1"))
    (app,) = robot.apps
    assert (app.current, app.image, app.state) == (None, None, "-")
    assert len(app.units) == 3 and app.monitor_error == "horus: no release of demo is installed (/opt/demo/current)"
    assert not robot.healthy


def test_the_table_has_a_row_per_robot_with_what_an_operator_asks() -> None:
    robots = [parse(host(n), answer(n)) for n in ("fleet-amd64-1", "fleet-amd64-2", "demo-arm64-1")]
    switched = answer("fleet-amd64-1")["apps"]["fleet"]["release"]["switched_at"]  # type: ignore[index]
    lines = render(robots, now=switched + 125).splitlines()
    assert lines[0].split()[:6] == ["robot", "image", "current", "previous", "state", "units"]
    first, second, third = lines[1:4]
    assert first.split() == ["fleet-amd64-1", "fleet-amd64", "556e4f31e5ef026e", "-", "confirmed", "1/1", "active",
                             "200", "0", "0", "1", "55.6G", "2m", "ago"]  # fmt: skip
    assert "0/1 active (beat:inactive)" in second and "no answer" in second
    assert "0/3 active (control:inactive, perception:inactive, planner:inactive)" in third
    assert lines[-1] == "3 robot(s): 3 answered, 1 healthy, 0 no answer"


@pytest.mark.parametrize(
    ("markers", "state"),
    [
        ({"current": None}, "-"),
        ({"current": "a", "healthy": "a"}, "confirmed"),
        ({"current": "b", "healthy": "a"}, "pending"),  # switched, not confirmed: the guard takes it back
        ({"current": "b"}, "pending"),
    ],
)
def test_release_state_reads_what_the_robot_records(markers: dict[str, str | None], state: str) -> None:
    assert release_state(markers) == state


def test_sizes_and_ages_read_at_a_glance() -> None:
    assert [human_bytes(n) for n in (None, 512, 1536, 5 * 2**30)] == ["-", "512B", "1.5K", "5.0G"]
    assert [ago(t, 100_000.0) for t in (None, 99_955.0, 100_000.0 - 720, 100_000.0 - 3 * 3600, 0.0)] == [
        "-", "45s ago", "12m ago", "3h ago", "1d ago",
    ]  # fmt: skip


def test_the_command_explains_itself_and_a_missing_inventory_is_one_error_line(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "horus_pipeline.fleet"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: nox -s fleet")
    missing = subprocess.run([*run, "status", "-i", str(tmp_path / "none.yml")], capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.startswith(f"error: {tmp_path / 'none.yml'}: no such inventory")


def test_a_held_robot_says_who_holds_it_in_plain_text() -> None:
    doc = answer("fleet-amd64-1")
    hold = {"holder": "mission.py", "reason": "docking\x1b[2J at bay 3", "pid": 7, "since": 0}
    doc["apps"]["fleet"]["holds"] = {"holds": [hold]}  # type: ignore[index]
    robot = parse(host("fleet-amd64-1"), doc)
    assert robot.apps[0].holds == ["mission.py: docking?[2J at bay 3"]
    assert "HELD (mission.py: docking?[2J at bay 3)" in render([robot], time.time())


def test_behind_lists_the_robots_the_next_deploy_moves(tmp_path: Path) -> None:
    on = parse(host("fleet-amd64-1"), answer("fleet-amd64-1"))
    release = on.apps[0].current
    assert release
    (tmp_path / "fleet-amd64").mkdir()
    latest = tmp_path / "fleet-amd64" / "latest"
    gone = RobotStatus("fleet-amd64-9", "198.18.0.9", 5.0, error="timed out after 5s")
    hosts = [Host("fleet-amd64-1", "x", image="fleet-amd64"), Host("fleet-amd64-9", "y", image="fleet-amd64")]
    latest.write_text(f"{release}\n")
    assert behind([on, gone], hosts, None, tmp_path) == [
        f"fleet-amd64-9: no answer (timed out after 5s); wants {release}"
    ]
    latest.write_text("0123456789abcdef\n")
    assert behind([on], hosts[:1], None, tmp_path) == [f"fleet-amd64-1: on {release}, wants 0123456789abcdef"]
    assert behind([on], hosts[:1], release, tmp_path) == []


def test_what_a_robot_says_reaches_the_table_as_plain_text() -> None:
    doc = answer("fleet-amd64-1")
    app = doc["apps"]["fleet"]  # type: ignore[index]
    app["monitor"]["nodes"][0].update(node="beat\x1b]0;owned\x07", health="unhealthy")  # listed: not healthy
    unit = app["units"].pop("fleet-beat.service")
    app["units"]["fleet-\x1b[31mbeat.service"] = {**unit, "ActiveState": "failed"}  # listed: not active
    table = render([parse(host("fleet-amd64-1"), doc)], time.time())
    assert "beat?]0;owned?" in table and "?[31mbeat:failed" in table
    assert "\x1b" not in table and "\x07" not in table


def test_doctor_shows_what_a_robot_says_as_plain_text_too() -> None:
    """The doctor's live checks read the same answers: a robot's escape sequences reach no terminal."""
    doc = answer("fleet-amd64-1")
    app = doc["apps"]["fleet"]  # type: ignore[index]
    app["monitor"] = {"error": "horus monitor failed: \x1b[2J\x1b]0;owned\x07"}
    doc["shm"] = {"stale": ["topics/\x1b[31mimu"], "error": None}
    report = Report("fleet-amd64", list(robot_checks(load_image("fleet-amd64"), parse(host("fleet-amd64-1"), doc))))
    text = report.render() + json.dumps(report.as_dict())
    assert "?[2J?]0;owned?" in text and "?[31mimu" in text
    assert "\x1b" not in text and "\x07" not in text and "\\u001b" not in text


def test_a_slow_robot_still_answers_in_time_and_says_which_part_was_slow(tmp_path: Path) -> None:
    """The probe on a robot whose runtime hangs: the document comes within the budget, the fast parts
    answered, the runtime's parts named as timed out."""
    horus = tmp_path / "horus"
    horus.write_text("#!/bin/sh\nexec sleep 30\n")
    horus.chmod(0o755)
    apps = tmp_path / "apps"
    apps.mkdir()
    index = {"app": "fleet", "prefix": str(tmp_path / "opt"), "units": [], "journald": "/nonexistent",
             "horus": str(horus), "holds": str(tmp_path / "no-holds"), "markers": {}, "current": "/nonexistent",
             "health": None}  # fmt: skip
    (apps / "fleet.json").write_text(json.dumps(index))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PROBE), "--apps", str(apps), "--budget", "1.5"], capture_output=True, text=True, timeout=30
    )
    took = time.monotonic() - started
    doc = json.loads(done.stdout)
    assert took < 10, f"the probe took {took:.1f}s: it waited for the hung runtime"
    app = doc["apps"]["fleet"]
    assert "timed out after 1.5s on the robot" in app["monitor"]["error"] and "--timeout" in app["monitor"]["error"]
    assert "error" not in app["units"] and doc["disk"]["total"] > 0
