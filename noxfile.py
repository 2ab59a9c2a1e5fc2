"""Jobs of the HORUS robot image pipeline: `nox -l` lists them, `nox -s NAME -- --help` explains one.

Sessions stay thin: each installs the pinned tools (lockfiles/tools.txt) and calls
the pipeline package (horus_pipeline/) or pytest.
"""

from __future__ import annotations

import nox

# session(default=False) needs nox 2024.3.2.
nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["build"]
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TOOLS = "lockfiles/tools.txt"


def install_tools(session: nox.Session, *extra: str) -> None:
    session.install("-r", TOOLS, *extra)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run every test: unit, integration and end-to-end on simulated robots."""
    install_tools(session, "numpy", "pyzmq")
    session.install("./horus_core", "-e", ".")
    session.run("pytest", *(session.posargs or ["tests"]))
