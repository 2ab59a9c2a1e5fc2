"""Helper processes for runtime tests: real processes on real shared memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


class Py:
    """Start Python snippets in child processes (real processes, real shared memory)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
        script = self.tmp / f"child_{len(self.procs)}.py"
        script.write_text(textwrap.dedent(code))
        proc = subprocess.Popen(
            [sys.executable, "-u", str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
            **kw,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def run(self, code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = self.start(code, *args)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    """Block until the child prints `expected` on stdout (its readiness signal)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == expected:
            return
    raise AssertionError(
        f"child exited ({proc.wait()}) before printing {expected!r}: {proc.stderr.read() if proc.stderr else ''}"
    )


def go(proc: subprocess.Popen[str]) -> None:
    """Release a child that waits for a line on stdin (started with stdin=subprocess.PIPE)."""
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
