"""What commands tell their user: progress for long steps (a live spinner on a terminal, plain lines in
CI or logs), and errors as one actionable message instead of a traceback (`run_cli`)."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable, Iterator

from .errors import PipelineError

# Set in worker processes: several workers sharing a terminal print plain lines, no spinners.
_plain = False


def plain_progress() -> None:
    """Report progress as plain lines from now on in this process (for workers of a pool)."""
    global _plain
    _plain = True


def interactive() -> bool:
    # Imported here, as subprocess in run_cli: `nox -s lock` answers "up to date" with info() alone.
    import threading

    # One live spinner at a time: steps in other threads (side-by-side builds) print plain lines.
    main = threading.current_thread() is threading.main_thread()
    return not _plain and main and sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def info(message: str) -> None:
    print(f"[horus] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Run a long step: show it while it runs, then print how long it took (or that it failed)."""
    start = time.monotonic()
    if interactive():
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(title):
            try:
                yield
            except BaseException:
                console.print(f"[red]✗[/] {title} failed after {time.monotonic() - start:.1f}s")
                raise
        console.print(f"[green]✓[/] {title} ({time.monotonic() - start:.1f}s)")
        return
    info(f"{title} ...")
    try:
        yield
    except BaseException:
        info(f"{title}: failed after {time.monotonic() - start:.1f}s")
        raise
    info(f"{title}: done in {time.monotonic() - start:.1f}s")


class Stages:
    """Wall-clock seconds per stage of a command, in the order stages first ran, for a table at its end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - start

    def table(self) -> str:
        width = max((len(name) for name in self.seconds), default=0)
        rows = [f"  {name:<{width}}  {secs:7.1f} s" for name, secs in self.seconds.items()]
        return "\n".join(["stage times:", *rows, f"  {'total':<{width}}  {sum(self.seconds.values()):7.1f} s"])


def run_cli(body: Callable[[], int | None], *, after_error: str = "") -> int:
    """Run a command's body and return its exit status: what every `main()` of the pipeline ends with.

    A PipelineError (or a failed child it did not wrap) prints `error: <message>` and gives 1; a
    full disk says so and how to get room (everything is written beside its destination and
    renamed, so nothing half-written has a final name); Ctrl-C gives 130. `after_error` is a
    line added to every error (e.g. what was left untouched). Other exceptions are bugs: they
    keep their traceback.
    """
    import subprocess

    tail = f"\n{after_error}" if after_error else ""
    try:
        return body() or 0
    except (PipelineError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}{tail}", file=sys.stderr)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(
            f"error: disk full writing {exc.filename or 'the output'}: nothing half-written was kept; "
            f"free space (or set HORUS_CACHE to a larger disk) and run it again{tail}",
            file=sys.stderr,
        )
    except KeyboardInterrupt:
        print(f"interrupted{tail}", file=sys.stderr)
        return 130
    return 1
