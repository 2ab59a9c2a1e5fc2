"""The seed's checklist items the pipeline answers: pinned dependencies and the units' settings.

- the image's lock is fresh (made from today's horus.toml and image spec) and every pin has
  hashes for the target (`lock.compile.check_lock_fresh`, `check_lock`);
- each unit a deploy writes (the robot contract) has `Restart=on-failure`, a `RestartSec` and a non-root `User`;
- a deploy installs a journald drop-in with retention (`SystemMaxUse`, `MaxRetentionSec`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import PipelineError
from ..images import ImageSpec
from ..lock.compile import check_lock, check_lock_fresh, relock_command
from .report import Check
from .units import directives, render_journald, render_units


def pipeline_checks(spec: ImageSpec) -> Iterator[Check]:
    yield _lock(spec)
    for unit, text in render_units(spec).items():
        yield from _unit(unit, text)
    yield _journald(spec)


def _lock(spec: ImageSpec) -> Check:
    title = f"lock {spec.lockfile.name}"
    try:
        lock = check_lock_fresh(spec)
        check_lock(lock, spec)
    except PipelineError as exc:
        return Check("lock.fresh", "pipeline", "fail", title, str(exc), f"re-lock: {relock_command(spec)}")
    hashes = sum(len(p.hashes) for p in lock.pins.values())
    return Check(
        "lock.fresh",
        "pipeline",
        "pass",
        title,
        f"made from the current inputs ({lock.inputs_hash}); {len(lock.pins)} pins, {hashes} sha256 hashes",
    )


def _unit(unit: str, text: str) -> Iterator[Check]:
    title = f"unit {unit}"
    restart, delay, user = directives(text, "Restart"), directives(text, "RestartSec"), directives(text, "User")
    fix = "in horus_pipeline/robot/contract.py (the units a deploy writes)"
    if restart[-1:] == ["on-failure"]:
        yield Check("unit.restart", "pipeline", "pass", title, "Restart=on-failure")
    else:
        yield Check(
            "unit.restart", "pipeline", "fail", title, f"Restart={restart or 'unset'}", f"set Restart=on-failure {fix}"
        )
    if delay and delay[-1] not in ("0", "0s", "0ms"):  # a time span: "2", "2.0", "500ms", "1min"
        yield Check("unit.restart_sec", "pipeline", "pass", title, f"RestartSec={delay[-1]}")
    else:
        yield Check(
            "unit.restart_sec",
            "pipeline",
            "fail",
            title,
            f"RestartSec={delay or 'unset'}: restarts back to back burn CPU",
            "set restart_sec in the image's [[services]] (e.g. 2)",
        )
    if user and user[-1] not in ("root", "0"):
        yield Check("unit.user", "pipeline", "pass", title, f"User={user[-1]}")
    else:
        yield Check(
            "unit.user",
            "pipeline",
            "fail",
            title,
            f"User={user or 'unset (root)'}",
            f"set User= {fix}; the image's [app] user names it",
        )


def _journald(spec: ImageSpec) -> Check:
    path, text = render_journald(spec)
    title = f"journald drop-in {path}"
    settings = {k: directives(text, k) for k in ("SystemMaxUse", "MaxRetentionSec")}
    missing = [k for k, v in settings.items() if not v]
    if missing:
        return Check(
            "journald.dropin",
            "pipeline",
            "fail",
            title,
            f"{', '.join(missing)} unset",
            "set the image's [journald] values (horus_pipeline/robot/contract.py writes them)",
        )
    shown = ", ".join(f"{k}={v[-1]}" for k, v in settings.items())
    return Check("journald.dropin", "pipeline", "pass", title, f"installed by every deploy: {shown}")
