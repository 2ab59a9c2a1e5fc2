"""Progress for long steps: a live spinner on a terminal, plain timestamped lines in CI or logs."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator


def interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


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
