"""Running external tools (zig, pip, mmdebstrap, systemd-nspawn) with errors that say what failed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import PipelineError


class CommandError(PipelineError):
    """An external command exited non-zero; the message holds the command and its output tail."""


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    input: bytes | None = None,
    timeout: float | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv; on failure raise CommandError naming `what` (or the command) with the last output lines."""
    args = [str(a) for a in argv]
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        input=input,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = ""
        if capture and proc.stdout:
            tail = "\n".join(proc.stdout.decode(errors="replace").splitlines()[-30:])
        raise CommandError(
            f"{what or 'command'} failed (exit {proc.returncode}): {shlex.join(args)}" + (f"\n{tail}" if tail else "")
        )
    return proc
