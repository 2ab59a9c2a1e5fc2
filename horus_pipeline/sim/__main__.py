"""`python -m horus_pipeline.sim` (`nox -s sim`)."""

from .fleet import main

raise SystemExit(main())
