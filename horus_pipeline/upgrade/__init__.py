"""`nox -s upgrade`: the pin-upgrade loop (loop.py), its culprit search (culprits.py) and its
summary (report.py)."""

from .loop import main

__all__ = ["main"]
