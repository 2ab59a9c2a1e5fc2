"""`python -m horus_pipeline.image` (`nox -s image`)."""

from .cli import main

raise SystemExit(main())
