"""`python -m horus_pipeline.fleet` (`nox -s fleet`, `horus fleet`)."""

from .cli import main

raise SystemExit(main())
