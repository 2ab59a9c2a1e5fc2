"""Reading pip-tools lockfiles (`lockfiles/<image>.txt`): pins, hashes, `# via` chains, our header.

The format is pip-compile's `--generate-hashes` output, plus header lines of our own that pip
ignores as comments:

    # horus-lock: image = demo-arm64
    # horus-lock: target = aarch64, CPython 3.11, glibc 2.36
    # horus-lock: inputs = sha256:<hash of everything the resolution depended on>

`read_lock(path)` is what the bundle step uses: every pin with its version and its allowed
sha256 hashes (the target's wheels).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ..errors import PipelineError

HEADER = "# horus-lock: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)\s*(;[^\\]*)?\\?\s*$")
_HASH = re.compile(r"^\s+--hash=(sha256:[0-9a-f]{64})\s*\\?\s*$")
_VIA_ONE = re.compile(r"^\s+# via (.+)$")
_VIA_HEAD = re.compile(r"^\s+# via\s*$")
_VIA_ITEM = re.compile(r"^\s+#   (.+)$")
# Lines that would tie a lock to the machine that made it.
MACHINE_LINE = re.compile(r"^\s*(-i|-f|--index-url|--extra-index-url|--find-links|--trusted-host)\b")
MACHINE_TEXT = ("file://", "/opt/", "/tmp/", "/root/", "/home/")


class LockfileError(PipelineError):
    """A lockfile cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Pin:
    name: str  # normalised (PEP 503)
    version: str
    hashes: tuple[str, ...]  # "sha256:<hex>", sorted
    via: tuple[str, ...]  # normalised names of the pins that need it, or the input ("demo (.horus/...)")

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Lock:
    path: Path
    header: dict[str, str]
    pins: dict[str, Pin]  # by normalised name, in file order

    @property
    def inputs_hash(self) -> str | None:
        return self.header.get("inputs")

    def versions(self) -> dict[str, str]:
        return {name: pin.version for name, pin in self.pins.items()}


def parse_lock(text: str, path: Path) -> Lock:
    header: dict[str, str] = {}
    pins: list[tuple[str, str, list[str], list[str]]] = []
    in_via = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(HEADER):
            key, _, value = line[len(HEADER) :].partition("=")
            header[key.strip()] = value.strip()
            continue
        match = _PIN.match(line)
        if match:
            pins.append((canonicalize_name(match.group(1)), match.group(3), [], []))
            in_via = False
            continue
        if pins and (m := _HASH.match(line)):
            pins[-1][2].append(m.group(1))
            continue
        if pins and (m := _VIA_ONE.match(line)):
            pins[-1][3].append(m.group(1).strip())
            continue
        if pins and _VIA_HEAD.match(line):
            in_via = True
            continue
        if pins and in_via and (m := _VIA_ITEM.match(line)):
            pins[-1][3].append(m.group(1).strip())
            continue
        in_via = False
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            raise LockfileError(f"{path}:{number}: not a pinned requirement or hash: {stripped!r}")
    result: dict[str, Pin] = {}
    for name, version, hashes, via in pins:
        result[name] = Pin(
            name=name,
            version=version,
            hashes=tuple(sorted(hashes)),
            via=tuple(v if " " in v else canonicalize_name(v) for v in via),
        )
    return Lock(path=path, header=header, pins=result)


def read_lock(path: Path) -> Lock:
    """Read `lockfiles/<image>.txt` (pins, hashes, `# via`, our header)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read lockfile: {exc.strerror}") from None
    return parse_lock(text, path)


def chain(lock: Lock, name: str) -> list[str]:
    """The shortest `# via` path from the input down to `name`: ["demo", "torch==2.11.0", "nvidia-x==1"]."""
    start = lock.pins[name]
    queue: list[list[str]] = [[name]]
    seen = {name}
    while queue:
        path = queue.pop(0)
        pin = lock.pins.get(path[-1])
        if pin is None:
            continue
        for parent in pin.via:
            if parent not in lock.pins:  # the input itself, e.g. "demo (.horus/pyproject.toml)"
                names = [parent.split(" ")[0]] + [f"{p}=={lock.pins[p].version}" for p in reversed(path)]
                return names
            if parent not in seen:
                seen.add(parent)
                queue.append([*path, parent])
    return [start.requirement]


def machine_specific_lines(lines: Iterable[str]) -> list[str]:
    """Lines that name an index, a find-links directory or a local path."""
    return [line for line in lines if MACHINE_LINE.match(line) or any(text in line for text in MACHINE_TEXT)]
