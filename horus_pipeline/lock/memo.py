"""A lock whose inputs and index pages are those of an earlier lock is that lock: kept without pip-compile.

pip-compile's result is a function of what it is given (the job: arguments, the target's markers
and tags, the rendered pyproject.toml, the lock it starts from), of pip's configuration (PIP_*
variables, pip.conf files and the local files and directories they name: constraints,
find-links), of the code that runs (pip, pip-tools, driver.py, this file, the Python) and of the
index pages it reads (a wheel's metadata is fixed by the sha256 its page gives). The driver
records, for each lock it makes, the pages it read with their sha256; a later run of the same
job and configuration fetches those pages again (one connection per host, as pip does) and, when
every page has the same bytes, writes the recorded outputs instead of starting pip-compile,
whose imports alone take longer than a whole check. Any difference, any page that does not
answer as before, and the lock is made by pip-compile again (nothing here can make a lock
pip-compile would not make: the check compares more than the result depends on).

Only the standard library and pagefetch.py: this runs in the driver before (and instead of)
importing pip, and in the pipeline before anything else (uptodate.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

try:
    from . import pagefetch
except ImportError:  # the driver run as a script loaded it from its file, beside this one (driver.load_sibling)
    import pagefetch  # type: ignore[no-redef]

# Not typing's: its import is 3 ms of a re-lock that is up to date (uptodate.py). mypy reads the
# block all the same.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Bump when what an entry holds or what the key covers changes: older entries are then ignored.
MEMO_FORMAT = 2
OUTPUTS = ("lock.txt", "files.json")
CACHE_KEYS = {"pip_cache_dir", "cache-dir", "cache_dir"}  # pip's cache, in the environment or a pip.conf
HERE = Path(__file__).resolve().parent


def job_key(job: dict[str, Any], tools: dict[str, str]) -> str:
    """Everything a job's lock depends on apart from the index pages: its file name in the memo."""
    cwd = Path(job["cwd"])
    blob = {
        "format": MEMO_FORMAT,
        "tools": tools,
        "python": sys.version,
        "code": [sha256_file(HERE / name) for name in ("driver.py", "memo.py", "pagefetch.py")],
        "job": {k: v for k, v in job.items() if k != "cwd"},
        "inputs": {name: sha256_file(cwd / name) for name in (".horus/pyproject.toml", "lock.txt")},
        "pip": pip_configuration(),
        # A file:// index of the image's: which projects it has (pip reads no page for one it lacks).
        "indexes": local_paths([arg for arg in job["args"] if arg.startswith("file://")]),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def pip_configuration() -> dict[str, Any]:
    """What pip's options come from here: PIP_* variables, every pip.conf pip reads, the local paths they name."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "XDG_CONFIG"))}
    files = {str(p): sha256_file(p) for p in _config_files()}
    # Every value that names a local path, but pip's cache: its entries change on every run and
    # a lock does not depend on them (index pages are compared here, wheels are known by sha256).
    lines = [f"{k}={v}" for k, v in env.items()] + [line for p in _config_files() for line in _read(p).splitlines()]
    values = [line.partition("=")[2] for line in lines if line.partition("=")[0].strip().lower() not in CACHE_KEYS]
    tokens = " ".join(values).replace("'", " ").split()
    return {"env": env, "files": files, "paths": local_paths(tokens)}


def local_paths(tokens: list[str]) -> dict[str, object]:
    """The local files and directories among `tokens` (paths, file:// URLs): a file's bytes, a directory's entries.

    Constraints files, find-links directories (pip lists them, it reads no page there), file://
    indexes (a project directory that appears is a page pip did not read last time).
    """
    paths: dict[str, object] = {}
    for token in tokens:
        token = token.strip('"')
        path = Path(_file_url_path(token) if token.startswith("file://") else token)
        if str(path) not in paths and path.is_absolute() and path.exists():  # a path named twice, read once
            paths[str(path)] = _fingerprint(path)
    return paths


def _config_files() -> list[Path]:
    """The files pip 25's Configuration reads on Linux, in its order (PIP_CONFIG_FILE, global, user, site)."""
    explicit = os.environ.get("PIP_CONFIG_FILE")
    dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    found = [Path(explicit)] if explicit else []
    found += [Path(d) / "pip" / "pip.conf" for d in dirs.split(":")] + [Path("/etc/pip.conf")]
    found += [Path.home() / ".pip" / "pip.conf", home / "pip" / "pip.conf", Path(sys.prefix) / "pip.conf"]
    return found


def _fingerprint(path: Path) -> object:
    """A file's bytes; a directory's entries, with size and mtime for its files (find-links wheels). A
    subdirectory by its name only: an index's project directories, whose pages are compared as pages.
    Lists, not tuples: a record (uptodate.py) compares it with what JSON gave back."""
    if path.is_dir():
        return sorted(
            [e.name, e.stat().st_size, e.stat().st_mtime_ns] if e.is_file() else [e.name] for e in os.scandir(path)
        )
    return sha256_file(path)


def _file_url_path(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path)  # url2pathname on POSIX, without urllib.request


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def sha256_file(path: Path) -> str | None:
    """The file's sha256 (hex); None where there is no file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def write_json(path: Path, value: object) -> None:
    """`value` as JSON at `path`, whole or not at all (a file of this process's beside it, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def record(directory: str, key: str, pages: dict[str, str | None], cwd: str) -> None:
    """Keep a finished job's outputs under its key, with the pages it read (None: pip got no page there)."""
    if not pages:
        return
    entry = {"pages": pages, "outputs": {name: _read(Path(cwd) / name) for name in OUTPUTS}}
    write_json(Path(directory) / f"{key}.json", entry)


def replay(directory: str, key: str, cwd: str) -> dict[str, str | None] | None:
    """Write the job's recorded outputs into `cwd` if every page it read has the same bytes now, and return
    those pages; else None."""
    try:
        entry = json.loads((Path(directory) / f"{key}.json").read_text(encoding="utf-8"))
        pages: dict[str, str | None] = entry["pages"]
        outputs: dict[str, str] = entry["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pages_unchanged(pages):
        return None
    for name in OUTPUTS:
        (Path(cwd) / name).write_text(outputs[name], encoding="utf-8")
    return pages


def pages_unchanged(pages: dict[str, str | None]) -> bool:
    """Every page (URL -> sha256) has the same bytes now, and every page pip got none of (None: a 404, a
    project an extra index lacks) is still missing."""
    try:
        return all(digest == pages[url] for url, digest in page_digests(list(pages)))
    except (OSError, ValueError):  # ssl's errors are OSErrors, pagefetch's ValueErrors
        return False  # no answer where pip had one: pip-compile meets the same trouble, and says what it is


def page_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def page_digests(urls: list[str]) -> Iterator[tuple[str, str | None]]:
    """(url, sha256 of the page pip would read there now, None where the server answers 404 or 410)."""
    by_host: dict[tuple[str, str], list[str]] = {}
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            path = Path(_file_url_path(url))
            page = path / "index.html" if path.is_dir() else path  # as pip reads a file:// index
            yield url, page_digest(page.read_bytes())
        else:
            by_host.setdefault((parts.scheme, parts.netloc), []).append(url)
    for host_urls in by_host.values():
        targets = [urllib.parse.urlsplit(url)._replace(scheme="", netloc="", fragment="").geturl() for url in host_urls]
        for url, (status, body) in zip(host_urls, pagefetch.get_all(host_urls[0], targets), strict=True):
            if status in (404, 410):
                yield url, None
            elif status == 200:
                yield url, page_digest(body)
            else:
                raise pagefetch.FetchError(f"{url}: {status}")  # a redirect, an error: left to pip
