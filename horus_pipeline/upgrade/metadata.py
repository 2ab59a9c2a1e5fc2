"""What the package index says about a release, for the summary and `--only-security`:

- links: the release's changelog or release page, from the `Project-URL` entries of its wheel's
  METADATA (the same entries PyPI's JSON API serves as `project_urls`), else its home page;
- vulnerabilities: PyPI's JSON API (`<index>/../pypi/<name>/<version>/json`, key
  `vulnerabilities`). An index without that API (a plain PEP 503 mirror) has no such data,
  and `--only-security` then says so instead of guessing.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import PipelineError

PYPI = "https://pypi.org/simple"
# Project-URL labels that point at what changed, best first (compared lower-case, letters only).
CHANGELOG_LABELS = ("changelog", "changes", "releasenotes", "whatsnew", "history", "news", "releases")
HOME_LABELS = ("homepage", "home", "source", "sourcecode", "repository", "documentation")


def wheel_links(wheel: Path) -> dict[str, str]:
    """`Project-URL` label -> URL of a wheel's METADATA (plus `Home-page`, as "homepage")."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        meta = email.parser.Parser().parsestr(zf.read(name).decode("utf-8", "replace"), headersonly=True)
    links = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if url.strip():
            links[label.strip()] = url.strip()
    if meta.get("Home-page"):
        links.setdefault("homepage", meta["Home-page"].strip())
    return links


def best_link(links: dict[str, str]) -> tuple[str, str] | None:
    """The changelog (or release page), else the home page: (label, url)."""
    by_key = {re.sub(r"[^a-z]", "", label.lower()): (label, url) for label, url in links.items()}
    for key in (*CHANGELOG_LABELS, *HOME_LABELS):
        if key in by_key:
            return by_key[key]
    return None


def index_url() -> str:
    """The index pip uses on this machine (PIP_INDEX_URL, pip's configuration, else PyPI)."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    found = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else PYPI


def json_api(index: str) -> str:
    """PyPI's JSON API beside a simple index: https://pypi.org/simple -> https://pypi.org/pypi."""
    return re.sub(r"/simple/?$", "", index.rstrip("/")) + "/pypi"


def vulnerabilities(name: str, version: str, index: str) -> list[str]:
    """The advisories (ids) the index lists for name==version; PipelineError when it has no such data."""
    url = f"{json_api(index)}/{name}/{version}/json"
    try:
        with urllib.request.urlopen(url, timeout=15) as answer:
            data = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PipelineError(
            f"--only-security cannot tell which upgrades fix vulnerabilities: the index {index} has no JSON API "
            f"with vulnerability data ({url}: {getattr(exc, 'reason', exc)}). PyPI's has one: run with "
            f"PIP_INDEX_URL={PYPI}, or upgrade without --only-security"
        ) from None
    if "vulnerabilities" not in data:
        raise PipelineError(
            f"--only-security cannot tell which upgrades fix vulnerabilities: {url} has no 'vulnerabilities' key "
            "(the index does not publish them); upgrade without --only-security"
        )
    return sorted(str(v.get("id", "?")) for v in data["vulnerabilities"] if isinstance(v, dict))
