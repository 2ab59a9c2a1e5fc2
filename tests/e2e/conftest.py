"""Simulated robots for end-to-end tests: the code behind `nox -s sim` (horus_pipeline/sim/).

Fixtures:
- `sim` (session): a Sim in a temporary directory of its own (its own inventory.yml and
  key), so the robots of a developer's `nox -s sim` are never touched. Whatever it booted
  is stopped at the end of the session.
- `boot_robots` (function): `boot_robots("demo-amd64", count=5) -> list[Robot]`; they are
  stopped and removed when the test ends, passed or failed (a failed test's output gets each
  robot's journal).
- `arm64_deploy` (session): a demo-arm64 robot and the fresh deploy of its bundle, which takes
  minutes under qemu-user. When the session has test_deploy.py's demo-arm64 checks, it starts at
  the first end-to-end test, and other end-to-end tests run meanwhile on the second core
  (`pytest_collection_modifyitems` says which). The robot is in a sim of its own: the leak
  checks of `sim`'s robots never see it.

A Robot has `.name`, `.address`, `.root` (its disk on the host), `.ssh(cmd)`, `.journal()`;
`sim.inventory` is the Ansible inventory of the session's running robots (group `robots`).
Without root, a Debian host or qemu-user, these tests skip with the reason; under CI=true
they fail.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deploying import ARM64_IMAGE, Deploy, start_deploy
from horus_testing import require_robot_host

from horus_pipeline.images import load_image
from horus_pipeline.sim.fleet import Sim, reap_orphans
from horus_pipeline.sim.robot import Robot

BootRobots = Callable[..., list[Robot]]
HERE = Path(__file__).parent


@contextlib.contextmanager
def _sim_of_own(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Sim]:
    """A Sim in a new temporary directory; whatever it booted is stopped at the end."""
    require_robot_host("x86_64")
    reap_orphans()  # robots of an earlier run that was killed
    the_sim = Sim(tmp_path_factory.mktemp(name), owner_pid=os.getpid())
    try:
        yield the_sim
    finally:
        the_sim.stop()


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with _sim_of_own(tmp_path_factory, "sim") as the_sim:
        yield the_sim


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


DEPLOY_TESTS = HERE / "test_deploy.py"
FLEET_TESTS = HERE / "test_deploy_fleet.py"


def _checks_arm64_deploy(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return item.path == DEPLOY_TESTS and callspec is not None and callspec.params.get("deployed") == ARM64_IMAGE


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order test_deploy.py's tests around the demo-arm64 deploy that starts with the first
    end-to-end test (`arm64_deploy`): it takes about as long as the fleet tests, so its checks
    go right after them (its robot's nodes, busy under qemu-user, never wait long for them),
    then the amd64 robot's. Without the fleet tests, the amd64 robot's checks run meanwhile."""
    arm64 = [item for item in items if _checks_arm64_deploy(item)]
    if not arm64:
        return
    amd64 = [item for item in items if item.path == DEPLOY_TESTS and not _checks_arm64_deploy(item)]
    others = [item for item in items if item.path != DEPLOY_TESTS]
    fleet = [n for n, item in enumerate(others) if item.path == FLEET_TESTS]
    if fleet:
        at, block = fleet[-1] + 1, arm64 + amd64
    else:
        first = next(n for n, item in enumerate(items) if item.path == DEPLOY_TESTS)
        at, block = first, amd64 + arm64  # every item before the first of test_deploy.py is another's
    items[:] = others[:at] + block + others[at:]


@pytest.fixture(scope="session")
def arm64_deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deploy]:
    # A deploy still running when the session ends fails fast once its robot is stopped.
    with _sim_of_own(tmp_path_factory, "sim-arm64") as own:
        yield start_deploy(own, ARM64_IMAGE, tmp_path_factory.mktemp(ARM64_IMAGE))


@pytest.fixture(scope="session", autouse=True)
def _arm64_deploy_starts_first(request: pytest.FixtureRequest) -> None:
    if any(_checks_arm64_deploy(item) for item in request.session.items):
        # A failure to start is not this test's: the demo-arm64 checks get the same error when they ask.
        with contextlib.suppress(Exception, pytest.skip.Exception, pytest.fail.Exception):
            request.getfixturevalue("arm64_deploy")
