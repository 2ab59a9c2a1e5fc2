"""Why `uv pip compile` pins another version than our lock, read from what the indexes serve.

Known case (issue 31): re-locking demo-arm64 from its committed lock, uv pins numpy 2.4.5 and
scipy 1.17.0 where the lock keeps 2.4.6 and 1.17.1, with or without --generate-hashes (a fresh
uv resolution, with no output file to start from, agrees with the lock). This machine's first
extra index, file:///opt/pypi/simple, lists numpy 2.4.6 and scipy 1.17.1 with an x86_64 wheel
only; PyPI has their aarch64 cp311 wheels. For a version it prefers (a pin of the output file it
starts from) uv takes the files of the first index that lists the version, in its index order,
even under --index-strategy unsafe-best-match, finds none for the robot there, and rules the
version out; pip merges every index's files of a version. Ours is the lock to keep: the pinned
version has a file for the robot, and a re-lock keeps the pins it can.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

PEP691 = "application/vnd.pypi.simple.v1+json"
ANCHOR = re.compile(r"<a\s[^>]*href=\"([^\"#]+)[^\"]*\"[^>]*>", re.IGNORECASE)


def uv_binary() -> str:
    """The uv of lockfiles/test.txt, beside this Python; else one on PATH. Not PATH's first: pyenv's
    shim there is a shell script that costs 50 ms a run, and made uv look twice as slow."""
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv") or str(beside)


@dataclass(frozen=True)
class Listing:
    """The files one index lists for one version of a project."""

    index: str
    files: tuple[str, ...]
    for_target: tuple[str, ...]  # the wheels among them the robot can install


def project_files(index: str, name: str) -> list[str]:
    """Every file name an index's project page lists (PEP 691 JSON or PEP 503 HTML; file:// too); [] if none."""
    url = f"{index.rstrip('/')}/{canonicalize_name(name)}/"
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        page = path / "index.html"
        if not page.is_file():
            return []
        return _anchors(page.read_text(encoding="utf-8"))
    request = urllib.request.Request(url, headers={"Accept": f"{PEP691}, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read().decode("utf-8")
            if response.headers.get_content_type() == PEP691:
                return [f["filename"] for f in json.loads(body)["files"]]
            return _anchors(body)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def _anchors(html: str) -> list[str]:
    return [unescape(urllib.parse.unquote(href.rsplit("/", 1)[-1])) for href in ANCHOR.findall(html)]


def listings(name: str, version: str, indexes: Sequence[str], tags: Sequence[str]) -> list[Listing]:
    """Per index, in the order given, the files of name==version it lists (indexes without any left out)."""
    target = {Tag(*t.split("-")) for t in tags}
    found = []
    for index in indexes:
        files = [f for f in project_files(index, name) if _version_of(f) == version]
        if files:
            wheels = tuple(f for f in files if _wheel_tags(f) & target)
            found.append(Listing(index, tuple(sorted(files)), wheels))
    return found


def _version_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None  # not a distribution (an .exe, a .egg): no installer takes it


def _wheel_tags(filename: str) -> frozenset[Tag]:
    if not filename.endswith(".whl"):
        return frozenset()
    try:
        return parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return frozenset()


def explain(name: str, ours: str, uv: str, indexes: Sequence[str], tags: Sequence[str], what: str) -> str:
    """One line: why uv pinned `uv` where our lock pins `ours` for a robot accepting `tags`.

    `indexes` in uv's order of preference (its --extra-index-url ones first, then --index-url);
    `what` names the robot (e.g. "aarch64/cp311").
    """
    mine = listings(name, ours, indexes, tags)
    if not mine:
        return f"{name}: no index lists {ours} any more (uv: {uv}); re-lock with --upgrade-package {name}"
    first = mine[0]
    elsewhere = [listing for listing in mine[1:] if listing.for_target]
    if not first.for_target and elsewhere:
        return (
            f"{name}: uv {uv}, ours {ours} (kept from the lock): uv takes a kept pin's files from the first index "
            f"listing {ours}, {first.index}, which has {', '.join(first.files)} and nothing for {what}, so it rules "
            f"{ours} out; {elsewhere[0].index} has {elsewhere[0].for_target[0]}. Ours is right: pip merges every "
            f"index's files of a version (uv does so only for versions it chooses afresh)"
        )
    if not any(listing.for_target for listing in mine):
        return f"{name}: no index has a file of {ours} for {what} (uv: {uv}): ours cannot install; re-lock it"
    return f"{name}: uv {uv}, ours {ours}: not explained by the files the indexes list for {what}"


def uv_index_order(index_url: Sequence[str], extra_index_urls: Sequence[str]) -> list[str]:
    """The indexes in the order uv prefers them: every --extra-index-url, then the --index-url (PyPI by default)."""
    return [*extra_index_urls, *(index_url or ["https://pypi.org/simple"])]
