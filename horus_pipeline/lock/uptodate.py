"""`nox -s lock` with nothing changed: answered from a record of its last run, before the pipeline is imported.

make's question, asked of one command line (`python -m horus_pipeline.lock ARGS` in one directory):
are the files its last run read the same (image specs, manifests, the locks it started from, the
directories it listed or read in), is the code the same (the pipeline's modules, the driver, the
installed distributions, the Python), is pip's configuration the same, are the index pages the
same bytes (fetched again, as pip and uv both do with a page that gives no freshness), are the
indexes it went on without still unreachable, and are the files it wrote still as it wrote them?
Then a run would write those same files: it does nothing, and says so.

The last run records that only if it was a fixed point: every file it read was, at its end, still
as it read it (a first lock, which reads nothing and writes the lock, is recorded by the next
run), and it succeeded. What the pipeline reads is observed with an audit hook (open, listdir,
scandir, rename), not listed by hand, so a new input is covered the day it is read. A file only
tested for existence is covered by its directory's listing where the run read another file
there. Anything that does not match, or does not answer as before, and the command runs as usual
(lock/compile.py; its driver then keeps unchanged resolutions: memo.py).

Only the standard library, memo.py and pagefetch.py: this runs before the pipeline's imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

from ..cache import cache_root
from . import memo

TYPE_CHECKING = False  # typing's import is not needed at run time (memo.py says why)
if TYPE_CHECKING:
    from typing import Any

# Bump when what a record holds changes: older records are then ignored.
RECORD_FORMAT = 1
PACKAGE = Path(__file__).resolve().parent.parent  # horus_pipeline/: its modules are recorded as code
PATHS = (str, bytes, os.PathLike)


def plain(argv: list[str]) -> bool:
    """A re-lock: image names and --output-dir only (no --upgrade, -P, --check, --install, --help)."""
    args = iter(argv)
    for arg in args:
        if arg == "--output-dir":
            next(args, None)
        elif arg.startswith("-") and not arg.startswith("--output-dir="):
            return False
    return True


def records() -> Path:
    """Where the records of lock runs are kept, one per command line."""
    return cache_root() / "lock-runs"


def record_path(argv: list[str]) -> Path:
    command = json.dumps([os.getcwd(), argv, sys.executable])
    return records() / (hashlib.sha256(command.encode()).hexdigest() + ".json")


def up_to_date(argv: list[str]) -> list[str] | None:
    """The files the last run of this command wrote, if nothing they are made from changed since; else None."""
    if not plain(argv):
        return None
    try:
        record = json.loads(record_path(argv).read_text(encoding="utf-8"))
        if record["format"] != RECORD_FORMAT or record["python"] != sys.version:
            return None
        # The index pages on a thread: its imports (ssl, http.client) and network waits overlap the
        # local checks. A local difference answers without waiting for it (a daemon: it only reads).
        pages: list[bool] = []
        fetch = threading.Thread(target=lambda: pages.append(memo.pages_unchanged(record["pages"])), daemon=True)
        fetch.start()
        same = (
            all(
                memo.sha256_file(Path(p)) == d
                for group in ("written", "read", "code")
                for p, d in record[group].items()
            )
            and all(_listing(Path(p)) == names for p, names in record["listed"].items())
            and _distributions() == record["distributions"]
            and memo.pip_configuration() == record["pip"]
            and _still_unreachable(record["unreachable"])
        )
        if same:
            fetch.join()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sorted(_shown(p) for p in record["written"]) if same and pages == [True] else None


class Recorder:
    """Watches one lock run (files read, directories listed, files written; pages the driver read) and
    records it for `up_to_date` if it ends as a fixed point."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.read: dict[str, str | None] = {}  # path -> sha256 when first read
        self.listed: dict[str, list[str] | None] = {}  # directory -> names when first listed or read in
        self.written: set[str] = set()
        self.pages: dict[str, str | None] = {}
        self.unreachable: set[str] = set()
        self.unrecordable = ""  # why this run must not be answered from next time
        # Code (recorded as such), the run's scratch and caches (cache_root), the kernel's files.
        roots = (PACKAGE, sys.prefix, sys.base_prefix, sys.exec_prefix, cache_root(), "/proc", "/sys", "/dev")
        self._ignored = tuple(os.path.join(root, "") for root in roots)
        self._busy = False

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if self._busy:
            return  # our own reads below
        self._busy = True
        try:
            # A descriptor (rmtree's scandir, fdopen) names no path: what it was opened from was seen.
            if event == "open" and isinstance(args[0], PATHS):
                flags = args[2] if isinstance(args[2], int) else os.O_RDONLY
                if flags & os.O_ACCMODE == os.O_RDONLY:
                    self._saw_read(os.path.abspath(os.fsdecode(args[0])))
            elif event in ("os.listdir", "os.scandir") and (args[0] is None or isinstance(args[0], PATHS)):
                self._saw_directory(os.path.abspath(os.fsdecode(args[0] or ".")))
            elif event == "os.rename" and isinstance(args[1], PATHS):
                path = os.path.abspath(os.fsdecode(args[1]))
                if not path.startswith(self._ignored):
                    self.written.add(path)
        except Exception as exc:  # an audit hook must not fail the operation it watches
            self.unrecordable = f"not watched: {event} {exc!r}"
        finally:
            self._busy = False

    def _saw_read(self, path: str) -> None:
        if path in self.read or path.startswith(self._ignored) or "__pycache__" in path or not os.path.isfile(path):
            return
        self.read[path] = memo.sha256_file(Path(path))
        self._saw_directory(os.path.dirname(path))

    def _saw_directory(self, path: str) -> None:
        if path not in self.listed and not path.startswith(self._ignored):
            self.listed[path] = _listing(Path(path))

    def save(self) -> None:
        """Record the run if every file it read and directory it listed is still as it was; else forget it."""
        stop()  # what is read from here on is the record's own business
        target = record_path(self.argv)
        try:
            fixed_point = all(memo.sha256_file(Path(p)) == d for p, d in self.read.items()) and all(
                _listing(Path(p)) == names for p, names in self.listed.items()
            )
            record = self._record() if fixed_point and self.written and not self.unrecordable else None
        except OSError:  # a file it read or wrote cannot be read back: nothing to answer from next time
            record = None
        if record is None:
            target.unlink(missing_ok=True)
            return
        memo.write_json(target, record)

    def _record(self) -> dict[str, object]:
        files = (getattr(module, "__file__", None) for module in list(sys.modules.values()))
        code = {file for file in files if file and file.startswith(str(PACKAGE))}
        return {
            "format": RECORD_FORMAT,
            "python": sys.version,
            "code": {p: memo.sha256_file(Path(p)) for p in sorted(code)},
            "distributions": _distributions(),
            "read": self.read,
            "listed": self.listed,
            "written": {p: memo.sha256_file(Path(p)) for p in sorted(self.written)},
            "pip": memo.pip_configuration(),
            "pages": self.pages,
            "unreachable": sorted(self.unreachable),
        }


_current: Recorder | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _current is not None:
        _current.audit(event, args)


def start(argv: list[str]) -> Recorder | None:
    """Watch this process's lock run from here on if it is a plain re-lock (one hook per process)."""
    global _current
    if not plain(argv):
        return None
    if _current is None:
        sys.addaudithook(_audit)
    _current = Recorder(argv)
    return _current


def stop() -> None:
    global _current
    _current = None


def saw_pages(pages: dict[str, str | None]) -> None:
    """The index pages a job's lock was made from (the driver's pages.json): a later run fetches them again."""
    if _current is not None:
        _current.pages.update(pages)


def skipped_indexes(urls: list[str]) -> None:
    """Indexes an image names that this run went on without (unreachable): a later run probes them again."""
    if _current is not None:
        _current.unreachable.update(urls)


def _still_unreachable(indexes: list[str]) -> bool:
    if not indexes:
        return True
    from ..indexes import reachable_indexes  # as the lock run probed them

    return not reachable_indexes(indexes)


def _distributions() -> dict[str, list[str]]:
    """The installed distributions (pip, pip-tools, packaging, ...) by name and version: their dist-info dirs."""
    found = {}
    for entry in sys.path:
        if os.path.basename(entry) == "site-packages" and os.path.isdir(entry):
            found[entry] = sorted(n for n in os.listdir(entry) if n.endswith(".dist-info"))
    return found


def _shown(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _listing(path: Path) -> list[str] | None:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None
