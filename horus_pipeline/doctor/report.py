"""A doctor's findings: each check passed, warned or failed, with its evidence and the fix.

`Report.failed` is what a deploy refuses on; warnings are shown but never block.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

Status = Literal["pass", "warn", "fail"]
MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


@dataclass(frozen=True)
class Check:
    """One item of the checklist, for one subject (a node, a service, a robot)."""

    id: str  # stable, for scripts: "node.failure_policy", "unit.restart", "live.health", ...
    group: Literal["app", "pipeline", "live"]
    status: Status
    title: str  # what was checked, for whom
    evidence: str  # what was found, and where (file:line, unit directive, HTTP status)
    fix: str = ""  # what to do; empty when it passed


@dataclass
class Report:
    image: str
    checks: list[Check] = field(default_factory=list)

    def add(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    def count(self, status: Status) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def failed(self) -> bool:
        return self.count("fail") > 0

    def as_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "ok": not self.failed,
            "summary": {s: self.count(s) for s in ("pass", "warn", "fail")},
            "checks": [asdict(c) for c in self.checks],
        }

    def render(self) -> str:
        lines = [f"horus doctor: image {self.image}"]
        for group in ("app", "pipeline", "live"):
            checks = [c for c in self.checks if c.group == group]
            if checks:
                lines.append(f"\n{group} checks:")
            for c in checks:
                lines.append(f"  {MARK[c.status]}  {c.title}: {c.evidence}")
                if c.status != "pass" and c.fix:
                    lines.append(f"        fix: {c.fix}")
        verdict = "FAILED" if self.failed else "ok"
        lines.append(
            f"\n{verdict}: {self.count('pass')} passed, {self.count('warn')} warning(s), {self.count('fail')} failed"
        )
        return "\n".join(lines)
