"""Running the doctor's checks: what the command runs, and what a deploy calls before it ships.

`release_report(spec)` runs the checks that need no robot (app and pipeline); `require_release_ok`
raises `DoctorError` when one of them failed, so a deploy path can refuse a failing release (and
skip the call when told to deploy anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import PipelineError
from ..fleet.inventory import Host
from ..images import ImageSpec, load_image
from .app import app_checks
from .live import live_checks
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


def live_report(spec: ImageSpec, hosts: Sequence[Host], timeout: float, report: Report | None = None) -> Report:
    """Live checks of `hosts` (robots running `spec`), added to `report` if given."""
    report = report or Report(spec.name)
    report.add(live_checks(spec, hosts, timeout))
    return report


def require_release_ok(image: ImageSpec | str) -> Report:
    """For the deploy path: the release report, or DoctorError naming every failed check and its fix."""
    spec = image if isinstance(image, ImageSpec) else load_image(image)
    report = release_report(spec)
    failed = [c for c in report.checks if c.status == "fail"]
    if failed:
        lines = "\n".join(f"  {c.title}: {c.evidence}\n    fix: {c.fix}" for c in failed)
        raise DoctorError(
            f"image {spec.name} fails {len(failed)} pre-deployment check(s) (horus doctor {spec.name}):\n{lines}"
        )
    return report
