"""Simulated robots for end-to-end tests: the code behind `nox -s sim` (horus_pipeline/sim.py).

Fixtures:
- `sim` (session): a Sim in a temporary directory of its own (its own inventory.yml and
  key), so the robots of a developer's `nox -s sim` are never touched. Whatever it booted
  is stopped at the end of the session.
- `boot_robots` (function): `boot_robots("demo-amd64", count=5) -> list[Robot]`; they are
  stopped and removed when the test ends, passed or failed (a failed test's output gets each
  robot's journal).

A Robot has `.name`, `.address`, `.root` (its disk on the host), `.ssh(cmd)`, `.journal()`;
`sim.inventory` is the Ansible inventory of the session's running robots (group `robots`).
Without root, a Debian host or qemu-user, these tests skip with the reason; under CI=true
they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from horus_testing import require_robot_host

from horus_pipeline.images import load_image
from horus_pipeline.sim import Robot, Sim, reap_orphans

BootRobots = Callable[..., list[Robot]]


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    require_robot_host("x86_64")
    reap_orphans()  # robots of an earlier run that was killed
    the_sim = Sim(tmp_path_factory.mktemp("sim"), owner_pid=os.getpid())
    try:
        yield the_sim
    finally:
        the_sim.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"_report_{call.when}", report)
    return report


@pytest.fixture
def boot_robots(sim: Sim, request: pytest.FixtureRequest) -> Iterator[BootRobots]:
    booted: list[Robot] = []

    def boot(
        image: str,
        count: int = 1,
        *,
        customize: Callable[[Path], None] | None = None,
        timeout: float | None = None,
    ) -> list[Robot]:
        spec = load_image(image)
        require_robot_host(spec.target.arch.name)
        robots = sim.boot(spec, count, customize=customize, timeout=timeout)
        booted.extend(robots)
        return robots

    yield boot
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.failed:
        for robot in booted:
            print(f"--- journal of {robot.name} ({robot.address}):\n{robot.journal(60)}")
    sim.stop(booted)
