"""pip-audit over the images' PEP 751 locks (`lockfiles/pylock.<image>.toml`), for `--only-security`.

pip-audit reads each pylock as what it is: the exact files a robot installs. Its vulnerability
service is its own choice (PyPI's JSON API by default; `PIP_AUDIT_VULNERABILITY_SERVICE=osv` and
`PIP_AUDIT_OSV_URL` pick OSV or a mirror of it). A package pip-audit could not look up is not
reported as safe: it is left to the index's JSON API (metadata.vulnerabilities).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PipelineError
from ..images import ImageSpec
from ..lock.pylock import pylock_path


@dataclass
class Audit:
    """What pip-audit said: package -> advisory ids, and the locked packages it could not look up."""

    advisories: dict[str, list[str]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)


def audit_pylocks(specs: Sequence[ImageSpec]) -> Audit:
    """Run pip-audit once on the pylock of every image (all in one directory, `--locked`)."""
    with tempfile.TemporaryDirectory(prefix="horus-audit-") as tmp:
        for spec in specs:
            source = pylock_path(spec)
            if not source.is_file():
                raise PipelineError(f"{source} does not exist: write it with `nox -s lock -- {spec.name}`")
            shutil.copyfile(source, Path(tmp) / source.name)
        argv = [sys.executable, "-m", "pip_audit", "--locked", "--format", "json", "--progress-spinner", "off", tmp]
        proc = subprocess.run(argv, capture_output=True, text=True)
    # pip-audit exits 1 when it found vulnerabilities: the JSON on stdout says which.
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise PipelineError(
            f"pip-audit could not read the pylock files (exit {proc.returncode}):\n{proc.stderr}"
        ) from None
    found = Audit()
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            found.unknown.add(dep["name"])
        ids = sorted({vuln["id"] for vuln in dep.get("vulns", [])})
        if ids:
            found.advisories[dep["name"]] = sorted(set(found.advisories.get(dep["name"], [])) | set(ids))
    return found
