"""`nox -s upgrade`: the pin-upgrade loop (loop.py), its robot stage (onrobot.py, robotcheck.py), its
culprit search (culprits.py), what the index says about releases (metadata.py) and its summary
(report.py)."""

from .loop import main

__all__ = ["main"]
