"""`horus sbom`: the software bill of materials of the release this horus runs from.

A release on a robot is `<prefix>/releases/<id>/` with its venv in `venv/` and its CycloneDX
document, made by the build and covered by the release's signature, in `sbom.cdx.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FILENAME = "sbom.cdx.json"


def release_sbom() -> Path:
    """The SBOM of the release whose venv runs this interpreter."""
    return Path(sys.prefix).parent / FILENAME


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"no SBOM at {path}: this horus does not run from a deployed release (or the release predates "
            "SBOMs); on a robot, `horus sbom` reads the current release's"
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the SBOM {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise ValueError(f"{path} is not a CycloneDX document")
    return doc


def _licenses(component: dict[str, Any]) -> str:
    found = []
    for entry in component.get("licenses", []):
        lic = entry.get("license", {})
        found.append(entry.get("expression") or lic.get("id") or lic.get("name") or "?")
    return " / ".join(found) or "-"


def components_table(doc: dict[str, Any]) -> str:
    subject = doc.get("metadata", {}).get("component", {})
    props = {p["name"]: p["value"] for p in subject.get("properties", [])}
    target = f"{props.get('horus:target:arch', '?')}, Python {props.get('horus:target:python', '?')}"
    lines = [
        f"{subject.get('name', '?')} {subject.get('version', '?')} (image {props.get('horus:image', '?')}, {target})"
    ]
    rows = [
        (c.get("name", "?"), c.get("version", "?"), _licenses(c), (c.get("hashes") or [{}])[0].get("content", "")[:16])
        for c in doc.get("components", [])
    ]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("package", "version", "license"))]
    header = ("package", "version", "license", "wheel sha256")
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))
    return "\n".join(lines)
