"""Everything that makes the pipeline's output byte-for-byte reproducible lives here.

Every archive, wheel and rootfs the pipeline writes takes its timestamps from
one epoch, its file modes from three values, its entry order from one sorted
walk, and every child build (zig cc, pip, mmdebstrap) gets one environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

# SOURCE_DATE_EPOCH when the environment sets none: 2026-01-01T00:00:00Z. It only has
# to be fixed; being later than the packages' own file dates keeps bytecode caches valid.
DEFAULT_EPOCH = 1767225600

DIR_MODE = 0o755
EXEC_MODE = 0o755
FILE_MODE = 0o644


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_EPOCH)


def normalized_mode(mode: int, is_dir: bool) -> int:
    """0755 for directories and anything executable by its owner, else 0644."""
    if is_dir or mode & 0o100:
        return EXEC_MODE
    return FILE_MODE


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child builds: our epoch, a fixed hash seed, no locale or timezone surprises."""
    env = dict(os.environ)
    env.update(
        SOURCE_DATE_EPOCH=str(source_date_epoch()),
        PYTHONHASHSEED="0",
        LC_ALL="C.UTF-8",
        TZ="UTC",
    )
    env.update(extra or {})
    return env


def sorted_walk(root: Path) -> Iterator[Path]:
    """Every path under root (directories before their contents), in byte order of names."""
    for top, dirs, files in os.walk(root, topdown=True):
        # topdown is what lets us sort `dirs` in place and so fix the order of descent.
        dirs.sort()
        base = Path(top)
        for name in sorted([*dirs, *files]):
            yield base / name
