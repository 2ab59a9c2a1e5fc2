"""What an upgrade run did, for people (Markdown for the pull request) and tools (JSON):
per image, each pin old -> new that was kept, and each package held back with the check that
failed and its output."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..bundle.build import Receive
from ..fleet.table import human_bytes

Change = tuple[str, str, str]  # (package, old, new); "" old: added, "" new: removed


@dataclass
class HeldBack:
    packages: tuple[str, ...]
    wanted: dict[str, dict[str, str]]  # image -> package -> version it was held back from
    check: str  # the first check that failed, e.g. "pytest tests/demo against fake-amd64's lock"
    output: str  # its last lines


@dataclass
class Outcome:
    kept: dict[str, list[Change]]  # image -> pins written
    held_back: list[HeldBack] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # "host: pytest ... (fake-amd64)", one per check run
    trials: int = 0
    receive: dict[str, Receive] = field(default_factory=dict)  # image -> what a robot on the committed release gets
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # "name==version" -> (label, url)
    advisories: dict[str, list[str]] = field(default_factory=dict)  # with --only-security: package -> ids fixed
    seconds: dict[str, float] = field(default_factory=dict)  # stage (lock, build, host tests, robots) -> time


def render_markdown(outcome: Outcome, packages: Sequence[str], tests: Sequence[str]) -> str:
    what = ", ".join(packages) if packages else "every package"
    lines = ["# Pin upgrade", "", f"Re-locked {what}; kept pins passed `pytest {shlex.join(tests)}`.", ""]
    if outcome.advisories:
        fixes = "; ".join(f"{name}: {', '.join(ids)}" for name, ids in sorted(outcome.advisories.items()))
        lines += [f"Only packages with known vulnerabilities were upgraded ({fixes}).", ""]
    if outcome.checks:
        lines += ["Checks run on the kept pins:", "", *[f"- {c}" for c in outcome.checks], ""]
    if outcome.seconds:
        spent = ", ".join(f"{stage} {t:g}s" for stage, t in outcome.seconds.items())
        lines += [f"{outcome.trials} trial(s); time per stage: {spent}.", ""]
    if not any(outcome.kept.values()) and not outcome.held_back:
        return "\n".join([*lines, "No pin changed.", ""])
    for image, rows in outcome.kept.items():
        lines += [f"## {image}", ""]
        if not rows:
            lines += ["No pin changed.", ""]
            continue
        lines += ["| package | old | new | what changed |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {old or '(new)'} | {new or '(removed)'} | {_link(outcome, name, new)} |"
            for name, old, new in rows
        ]
        lines.append("")
        if image in outcome.receive:
            got = outcome.receive[image]
            size = human_bytes(got.sent)
            if got.sent != got.whole:
                size += f" with deltas ({human_bytes(got.whole)} without)"
            lines += [f"A robot on the committed release receives {size} ({got.layers} new layer(s)).", ""]
    if outcome.held_back:
        lines += ["## Held back", ""]
        for held in outcome.held_back:
            versions = "; ".join(
                f"{image}: " + ", ".join(f"{p} {v or '(removed)'}" for p, v in sorted(wanted.items()))
                for image, wanted in sorted(held.wanted.items())
            )
            lines += [f"### {' + '.join(held.packages)}", "", f"Wanted {versions}. Failed: {held.check}.", ""]
            seen = {f"{p}=={v}" for wanted in held.wanted.values() for p, v in wanted.items()}
            links = [
                f"{key}: [{outcome.links[key][0]}]({outcome.links[key][1]})"
                for key in sorted(seen & set(outcome.links))
            ]
            lines += [f"Changes: {'; '.join(links)}.", ""] if links else []
            lines += ["```", held.output.rstrip(), "```", ""]
    return "\n".join(lines)


def render_json(outcome: Outcome) -> str:
    doc = {
        "kept": {
            image: [{"package": n, "old": o, "new": v} for n, o, v in rows] for image, rows in outcome.kept.items()
        },
        "held_back": [
            {"packages": list(h.packages), "wanted": h.wanted, "check": h.check, "output": h.output}
            for h in outcome.held_back
        ],
        "checks": outcome.checks,
        "trials": outcome.trials,
        "seconds": outcome.seconds,
        "links": {key: url for key, (_, url) in sorted(outcome.links.items())},
        "advisories": outcome.advisories,
        "receive": {
            image: {"bytes": got.sent, "bytes_without_deltas": got.whole, "layers": got.layers}
            for image, got in outcome.receive.items()
        },
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def wanted_versions(changes: Mapping[str, list[Change]], names: Sequence[str]) -> dict[str, dict[str, str]]:
    """For each image, the new version of each of `names` it wanted."""
    found: dict[str, dict[str, str]] = {}
    for image, rows in changes.items():
        for name, _, new in rows:
            if name in names:
                found.setdefault(image, {})[name] = new
    return found


def _link(outcome: Outcome, name: str, version: str) -> str:
    found = outcome.links.get(f"{name}=={version}")
    return f"[{found[0]}]({found[1]})" if found else ""
