"""The doctor's live checks: a release's robots asked through fleet status (the command runs them
after the release's own checks, release.py)."""

from __future__ import annotations

from collections.abc import Sequence

from ..fleet.inventory import Host
from ..images import ImageSpec
from .live import live_checks
from .report import Report


def live_report(spec: ImageSpec, hosts: Sequence[Host], timeout: float, report: Report | None = None) -> Report:
    """Live checks of `hosts` (robots running `spec`), added to `report` if given."""
    report = report or Report(spec.name)
    report.add(live_checks(spec, hosts, timeout))
    return report
