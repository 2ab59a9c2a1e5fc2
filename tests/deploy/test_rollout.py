"""The rollout policy of ansible/deploy.yml (ansible/lookup_plugins/horus_rollout.py), checked without
robots: real ansible-playbook runs over local hosts read the batches from the inventory as deploy.yml
does, and the report says where a rollout stands. The deploy itself is in tests/e2e/test_rollout.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from horus_testing import load_module

from horus_pipeline import REPO
from horus_pipeline.sim import deploy

PLUGINS = REPO / "ansible" / "lookup_plugins"
# The batches as deploy.yml forms them, each written down by its first robot.
PLAYBOOK = """
- hosts: robots
  gather_facts: false
  serial: "{{ lookup('horus_rollout', 'batches') }}"
  tasks:
    - ansible.builtin.shell: echo '{{ ansible_play_batch | to_json }}' >> {{ out }}
      delegate_to: localhost
      run_once: true
"""


def rollout_module() -> ModuleType:
    return load_module("horus_rollout", PLUGINS / "horus_rollout.py")


def batches(tmp_path: Path, policy: dict[str, Any], *args: str, robots: int = 5) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inventory.yml"
    hosts = {f"r{i}": {} for i in range(1, robots + 1)}
    inventory.write_text(
        yaml.safe_dump({"robots": {"hosts": hosts, "vars": {"ansible_connection": "local", **policy}}})
    )
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(deploy.ansible_env(), ANSIBLE_LOOKUP_PLUGINS=str(PLUGINS))
    argv = [deploy.ansible_playbook(), "-i", str(inventory), str(tmp_path / "play.yml"), "-e", f"out={tmp_path}/out"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)


def seen(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "out").read_text().splitlines()]


def test_batches_are_the_inventory_s_counts_and_percentages(tmp_path: Path) -> None:
    run = batches(tmp_path, {"horus_rollout_batches": [1, "40%", "100%"]})
    assert run.returncode == 0, run.stdout + run.stderr
    assert seen(tmp_path) == [["r1"], ["r2", "r3"], ["r4", "r5"]]


def test_percentages_are_of_the_robots_deployed_and_switching_is_capped(tmp_path: Path) -> None:
    run = batches(
        tmp_path, {"horus_rollout_batches": [1, "50%"], "horus_rollout_max_switching": 2}, "--limit", "r1,r2,r3,r4,r5"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # 50% of five is two; the last size repeats; no batch over two robots.
    assert seen(tmp_path) == [["r1"], ["r2", "r3"], ["r4", "r5"]]
    (tmp_path / "out").unlink()
    limited = batches(tmp_path, {"horus_rollout_batches": ["50%"]}, "--limit", "r1,r2,r3,r4")
    assert limited.returncode == 0 and seen(tmp_path) == [["r1", "r2"], ["r3", "r4"]]


def test_extra_vars_override_the_inventory(tmp_path: Path) -> None:
    run = batches(tmp_path, {"horus_rollout_batches": [1]}, "-e", '{"horus_rollout_batches": ["100%"]}')
    assert run.returncode == 0, run.stdout + run.stderr
    assert seen(tmp_path) == [["r1", "r2", "r3", "r4", "r5"]]


@pytest.mark.parametrize(
    ("policy", "said"),
    [
        ({"horus_rollout_batches": ["half"]}, "horus_rollout_batches holds 'half'"),
        ({"horus_rollout_batches": [0]}, "horus_rollout_batches holds 0"),
        ({"horus_rollout_max_fail_percent": 150}, "horus_rollout_max_fail_percent is 150: give a whole number from 0"),
        (
            {"horus_rollout_unreachable_fails": "maybe"},
            "horus_rollout_unreachable_fails is 'maybe': give true or false",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_inventory_and_the_field(
    tmp_path: Path, policy: dict[str, Any], said: str
) -> None:
    run = batches(tmp_path, policy)
    out = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0 and not (tmp_path / "out").exists()
    assert f"the inventory {tmp_path / 'inventory.yml'}" in out and said in out, out


def test_robots_of_one_rollout_disagreeing_about_it_are_refused(tmp_path: Path) -> None:
    module = rollout_module()
    hostvars = {"a": {"horus_rollout_batches": [1]}, "b": {"horus_rollout_batches": [2]}}
    with pytest.raises(module.PolicyError, match=r"horus_rollout_batches is \[1\] for a but \[2\] for b"):
        module.policy_of(hostvars, ["a", "b"], "the inventory")


def report(outcomes: dict[str, str], **policy: Any) -> dict[str, Any]:
    module = rollout_module()
    hostvars = {
        h: {**policy, "horus_robot_outcome": o, "horus_robot_outcome_reason": f"{h} said so"}
        for h, o in outcomes.items()
    }
    hosts = list(outcomes)
    return module.report(module.policy_of(hostvars, hosts, "the inventory"), hostvars, hosts)


def test_the_rollout_stops_once_failures_cross_the_threshold() -> None:
    going = report({"a": "updated", "b": "failed", "c": "current", "d": ""}, horus_rollout_max_fail_percent=40)
    assert not going["stop"] and going["failing"] == ["b"]  # one of three reached: 33%
    stopped = report({"a": "updated", "b": "failed", "c": "failed", "d": ""}, horus_rollout_max_fail_percent=40)
    assert stopped["stop"] and stopped["outcome"]["d"] == "skipped"
    assert "2 of the 3 robots reached failed (67% > horus_rollout_max_fail_percent 40%)" in stopped["why"]
    assert stopped["lines"][0].startswith("rollout: 1 updated, 0 current, 0 held, 0 unreachable, 2 failed, 1 skipped")
    assert any(line.split()[:2] == ["b", "failed"] and line.endswith("b said so") for line in stopped["lines"])


def test_unreachable_robots_are_reported_and_count_only_when_asked() -> None:
    outcomes = {"a": "updated", "b": "unreachable", "c": "started", "d": "held"}
    default = report(outcomes)
    assert not default["stop"] and default["failing"] == []
    assert default["outcome"]["b"] == default["outcome"]["c"] == "unreachable"
    assert default["reasons"]["c"] == "contact lost during its deploy"
    strict = report(outcomes, horus_rollout_unreachable_fails=True)
    assert strict["stop"] and strict["failing"] == ["b", "c"]
