"""`python -m horus_pipeline.doctor` (`nox -s doctor`, `horus doctor`)."""

from .cli import main

raise SystemExit(main())
