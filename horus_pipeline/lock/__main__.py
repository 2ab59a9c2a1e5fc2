"""`python -m horus_pipeline.lock` (`nox -s lock`)."""

import contextlib
import sys

from .driver_process import start_driver

# A run that locks starts pip-compile's process before the rest of the pipeline is imported:
# the two start-ups overlap (see driver_process). --check, --install and --help lock nothing.
locks = not {"--check", "--install", "-h", "--help"} & set(sys.argv[1:])
driver = start_driver() if locks else None

with driver or contextlib.nullcontext():  # a driver never handed its jobs (an error first) is killed
    from .compile import main

    raise SystemExit(main(driver=driver))
