"""`horus clean --shm`: remove shared memory that no live process holds.

Every process that maps a HORUS segment (topic, log ring, stats registry)
holds a shared flock on it until it exits, killed or not; a segment nobody
holds is stale. Stale segments and emptied namespace directories are removed;
live ones only with --force.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import _core
from ..messaging import namespace


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@dataclass
class Item:
    path: Path
    size: int  # bytes of memory the segment occupies (allocated blocks, not its nominal size)
    in_use: bool

    @property
    def human_size(self) -> str:
        return human(self.size)


@dataclass
class Report:
    removed: list[Item] = field(default_factory=list)
    kept: list[Item] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(i.size for i in self.removed)

    @property
    def human_freed(self) -> str:
        return human(self.freed)


def namespace_dirs(all_namespaces: bool) -> list[Path]:
    if not all_namespaces:
        return [namespace.directory()]
    return sorted(p for p in namespace.SHM_ROOT.glob(f"{namespace.DIR_PREFIX}*") if p.is_dir() and not p.is_symlink())


def _segments(ns_dir: Path) -> list[Path]:
    files = [ns_dir / "log"] + [p for sub in ("topics", "stats", "tensors") for p in sorted((ns_dir / sub).glob("*"))]
    return [p for p in files if p.is_file() and not p.is_symlink()]


def _remove_empty(ns_dir: Path, dry_run: bool) -> None:
    for d in (ns_dir / "topics", ns_dir / "stats", ns_dir / "tensors", ns_dir):
        if not dry_run and d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def clean_namespaces(*, all_namespaces: bool = False, force: bool = False, dry_run: bool = False) -> Report:
    report = Report()
    for ns_dir in namespace_dirs(all_namespaces):
        for path in _segments(ns_dir):
            try:
                in_use = _core.segment_in_use(str(path))
                st = path.stat()
            except OSError as exc:
                report.errors.append((path, exc.strerror or str(exc)))
                continue
            item = Item(path, st.st_blocks * 512, in_use)
            if in_use and not force:
                report.kept.append(item)
                continue
            if not dry_run:
                os.unlink(path)
            report.removed.append(item)
        # `.new.*` files are creations cut short by a kill between create and link.
        for tmp in [*ns_dir.glob(".new.*"), *ns_dir.glob("*/.new.*")]:
            if not dry_run:
                tmp.unlink(missing_ok=True)
        if force and not dry_run:
            shutil.rmtree(ns_dir, ignore_errors=True)
        _remove_empty(ns_dir, dry_run)
    return report
