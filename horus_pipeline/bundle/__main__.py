"""`python -m horus_pipeline.bundle` (`nox -s bundle`)."""

from .build import main

raise SystemExit(main())
