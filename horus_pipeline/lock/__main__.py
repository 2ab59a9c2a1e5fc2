"""`python -m horus_pipeline.lock` (`nox -s lock`)."""

from .compile import main

raise SystemExit(main())
