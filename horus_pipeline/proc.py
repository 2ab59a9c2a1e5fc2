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
    _check(args, proc.returncode, proc.stdout if capture else None, what)
    return proc


def _check(args: list[str], returncode: int, output: bytes | None, what: str | None) -> None:
    if returncode != 0:
        tail = "\n".join(output.decode(errors="replace").splitlines()[-30:]) if output else ""
        raise CommandError(
            f"{what or 'command'} failed (exit {returncode}): {shlex.join(args)}" + (f"\n{tail}" if tail else "")
        )


class Started:
    """A command started before its input is ready, so its start-up overlaps the caller's work.

    `finish(input)` hands it its stdin and waits; a non-zero exit raises CommandError as `run` does.
    Used as a context manager, a command never finished (the caller failed first) is killed.
    """

    def __init__(self, argv: Sequence[str | Path], *, what: str | None = None) -> None:
        self.args = [str(a) for a in argv]
        self.what = what
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def finish(self, input: bytes) -> None:
        output, _ = self.proc.communicate(input)
        _check(self.args, self.proc.returncode, output, self.what)

    def __enter__(self) -> Started:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            self.proc.wait()
