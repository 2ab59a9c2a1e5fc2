"""The seed's checklist items only a running robot answers, asked through `horus fleet`'s probe.

For each robot: it answers over SSH; every unit of the image is active; the health endpoint
says 200; `horus monitor --json` lists the nodes and each is healthy; the journald drop-in is
installed; no shared memory is stale (what `horus clean --shm` would remove).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..fleet.inventory import Host
from ..fleet.status import App, RobotStatus, query
from ..images import ImageSpec
from ..robot import contract
from .report import Check


def live_checks(spec: ImageSpec, hosts: Sequence[Host], timeout: float) -> Iterator[Check]:
    for robot in query(hosts, timeout=timeout, shm=True):
        yield from robot_checks(spec, robot)


def robot_checks(spec: ImageSpec, robot: RobotStatus) -> Iterator[Check]:
    """The live checks of one robot's answer (pure: tested on captured answers)."""
    who = f"robot {robot.host}"
    if robot.error is not None:
        yield Check(
            "live.reachable",
            "live",
            "fail",
            who,
            robot.error,
            "check that the robot is on and the inventory's address, user and key are right "
            "(ssh as ansible-playbook would)",
        )
        return
    app = next((a for a in robot.apps if a.name == spec.app_name), None)
    if app is None:
        yield Check(
            "live.installed",
            "live",
            "fail",
            who,
            f"no units of app {spec.app_name} on the robot",
            f"deploy it: ansible-playbook -i INVENTORY ansible/deploy.yml --limit {robot.host}",
        )
        return
    yield from _units(spec, who, app)
    yield _health(who, app)
    yield _monitor(who, app)
    yield _journald(who, app, spec)
    yield _shm(who, robot)


def _units(spec: ImageSpec, who: str, app: App) -> Iterator[Check]:
    states = {u.name: u for u in app.units}
    for svc in spec.services:
        unit = f"{spec.app_name}-{svc.name}.service"
        found = states.get(unit)
        title = f"{who}: unit {unit}"
        if found is not None and found.active:
            yield Check("live.unit", "live", "pass", title, f"{found.state}, {found.restarts} restart(s) since deploy")
        else:
            state = found.state if found is not None else "not installed"
            yield Check(
                "live.unit",
                "live",
                "fail",
                title,
                state,
                f"read why: journalctl -u {unit} -n 50 (on the robot); then fix and redeploy",
            )


def _health(who: str, app: App) -> Check:
    title = f"{who}: health endpoint"
    if app.health == 200:
        return Check("live.health", "live", "pass", title, "200")
    said = str(app.health) if app.health is not None else f"no answer ({app.health_error})"
    return Check(
        "live.health",
        "live",
        "fail",
        title,
        said,
        "`horus monitor --once` on the robot shows which node is not healthy",
    )


def _monitor(who: str, app: App) -> Check:
    title = f"{who}: horus monitor"
    if app.monitor_error is not None:
        return Check(
            "live.monitor", "live", "fail", title, app.monitor_error, "run `horus monitor --once` on the robot as root"
        )
    if not app.nodes:
        return Check("live.monitor", "live", "fail", title, "no nodes registered", "are the units running?")
    sick = [f"{n.name}: {n.health}" for n in app.nodes if n.health != "healthy"]
    if sick:
        return Check(
            "live.monitor",
            "live",
            "fail",
            title,
            f"{len(sick)} of {len(app.nodes)} nodes not healthy: " + ", ".join(sick),
            "`horus logs --level warning` on the robot says why",
        )
    return Check(
        "live.monitor",
        "live",
        "pass",
        title,
        f"{len(app.nodes)} nodes healthy, {app.errors} error(s), {app.deadline_misses} deadline miss(es)",
    )


def _journald(who: str, app: App, spec: ImageSpec) -> Check:
    title = f"{who}: journald drop-in"
    path = contract.Layout(spec.prefix, spec.app_name, spec.app_name).journald_conf
    if app.journald:
        return Check("live.journald", "live", "pass", title, f"{path} present")
    return Check("live.journald", "live", "fail", title, f"{path} missing", "redeploy: every deploy installs it")


def _shm(who: str, robot: RobotStatus) -> Check:
    title = f"{who}: shared memory"
    if robot.shm_error is not None:
        return Check(
            "live.shm",
            "live",
            "warn",
            title,
            f"could not check: {robot.shm_error}",
            "run `horus clean --shm --dry-run` on the robot",
        )
    stale = robot.stale_shm or []
    if stale:
        return Check(
            "live.shm",
            "live",
            "warn",
            title,
            f"{len(stale)} stale segment(s): {stale[0]}",
            "`horus clean --shm` on the robot removes what no live process holds",
        )
    return Check("live.shm", "live", "pass", title, "no stale segments")
