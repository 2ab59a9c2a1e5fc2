"""Starting the pip-compile driver (driver.py) as early as a lock run can: its imports are its slowest part.

The driver imports pip and pip-tools (about a third of a one-image lock) before it reads its
jobs from stdin, so whatever the caller does in the meantime (its own imports, laying out the
jobs, probing the indexes) costs no time. `python -m horus_pipeline.lock` starts it before
importing the rest of the pipeline.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..proc import Started

DRIVER = Path(__file__).with_name("driver.py")


def start_driver() -> Started:
    """The driver, started and waiting for its jobs (`Started.finish(jobs_json)`)."""
    return Started([sys.executable, "-I", DRIVER, "-"], what="pip-compile")
