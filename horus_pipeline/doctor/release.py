"""The doctor's checks of a release before any robot: what `nox -s build` runs before it builds.

`release_report(spec)` runs the checks that need no robot (app and pipeline); `require_release_ok`
raises `DoctorError` when one of them failed, so the build can refuse a failing release (and skip
the call when told to build anyway). Nothing here reaches a robot: the live checks (checks.py)
are the command's alone.
"""

from __future__ import annotations

from ..errors import PipelineError
from ..images import ImageSpec, load_image
from .app import app_checks
from .pipeline import pipeline_checks
from .report import Report


class DoctorError(PipelineError):
    """A release failed the doctor's checks; the message lists each failure with its fix."""


def release_report(spec: ImageSpec) -> Report:
    """The app and pipeline checks of `spec`: everything that is known before any robot is touched."""
    report = Report(spec.name)
    report.add(app_checks(spec))
    report.add(pipeline_checks(spec))
    return report


def require_release_ok(image: ImageSpec | str) -> Report:
    """For the build: the release report, or DoctorError naming every failed check and its fix."""
    spec = image if isinstance(image, ImageSpec) else load_image(image)
    report = release_report(spec)
    failed = [c for c in report.checks if c.status == "fail"]
    if failed:
        lines = "\n".join(f"  {c.title}: {c.evidence}\n    fix: {c.fix}" for c in failed)
        raise DoctorError(
            f"image {spec.name} fails {len(failed)} pre-deployment check(s) (horus doctor {spec.name}):\n{lines}"
        )
    return report
