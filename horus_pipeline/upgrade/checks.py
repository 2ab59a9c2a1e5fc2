"""A failed check of an upgrade trial: which check, where, and the output that shows why."""

from __future__ import annotations


class CheckFailed(Exception):
    """One check of a trial failed: what it was (and where it ran) and the last lines it printed."""

    def __init__(self, check: str, output: str) -> None:
        super().__init__(f"{check} failed")
        self.check, self.output = check, output


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
