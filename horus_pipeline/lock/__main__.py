"""`python -m horus_pipeline.lock` (`nox -s lock`)."""

import contextlib
import sys

from . import uptodate

argv = sys.argv[1:]
# A re-lock with nothing changed is answered before anything else is imported or started (uptodate.py).
unchanged = uptodate.up_to_date(argv)
if unchanged is not None:
    from ..console import info

    info("up to date (nothing they are made from changed since this command made them): " + ", ".join(unchanged))
    raise SystemExit(0)

# A run that locks starts pip-compile's process before the rest of the pipeline is imported:
# the two start-ups overlap (see driver_process). --check, --install and --help lock nothing.
from .driver_process import start_driver  # noqa: E402

locks = not {"--check", "--install", "-h", "--help"} & set(argv)
driver = start_driver() if locks else None

with driver or contextlib.nullcontext():  # a driver never handed its jobs (an error first) is killed
    from .compile import main

    recorder = uptodate.start(argv)
    code = main(argv, driver=driver)
    if recorder is not None and code == 0:
        recorder.save()
    raise SystemExit(code)
