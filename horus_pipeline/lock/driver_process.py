"""Starting the pip-compile driver (driver.py) as early as a lock run can.

The driver's interpreter starts and checks the lock tools' versions while the caller does its own
imports, lays out the jobs and probes the indexes; it then reads the jobs from stdin, keeps the
unchanged ones (memo.py) and imports pip only for the others. `python -m horus_pipeline.lock`
starts it before importing the rest of the pipeline.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..proc import Started

DRIVER = Path(__file__).with_name("driver.py")


def start_driver() -> Started:
    """The driver, started and waiting for its jobs (`Started.finish(jobs_json)`)."""
    return Started([sys.executable, "-I", DRIVER, "-"], what="pip-compile")
