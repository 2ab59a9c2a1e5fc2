"""What the robot-side steps share: running a command, writing a file atomically, the error they raise.
Standard library only (it runs on robots, as the deploy's module_utils)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile


class InstallError(Exception):
    """The transaction refused or failed; the message says what, and that nothing was switched."""


def run(argv: list[str], data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(argv, input=data, capture_output=True, check=False)
    if check and proc.returncode != 0:
        said = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise InstallError(f"{' '.join(argv[:3])} failed ({proc.returncode}): {said}")
    return proc


def atomic_write(path: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Write through a temporary file in the same directory and rename it over `path` (never through a link)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
