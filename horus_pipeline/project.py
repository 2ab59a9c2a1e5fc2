"""The pipeline's door to `horus.cli.project` (horus_core/horus/cli/project.py): horus.toml parsing and rendering.

`horus build` and the lock step must read horus.toml the same way, so there is one parser, in
the runtime package. It is pure standard-library Python; we load that file directly rather than
`import horus`, whose package import needs the compiled core that the build machine may not have.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from . import REPO
from .errors import PipelineError

PROJECT_PY = REPO / "horus_core" / "horus" / "cli" / "project.py"


class ManifestError(PipelineError):
    """horus.toml is malformed (the message names file, line and key)."""


@cache
def runtime_module() -> ModuleType:
    """horus_core/horus/cli/project.py, loaded from its file."""
    spec = importlib.util.spec_from_file_location("_horus_project", PROJECT_PY)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot load {PROJECT_PY}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def load_project(path: Path) -> Any:
    """`horus.cli.project.load_project`: the app's manifest as a `Project` (name, version, dependencies)."""
    try:
        return runtime_module().load_project(path)
    except runtime_module().ManifestError as exc:
        raise ManifestError(str(exc)) from None


def write_pyproject(project: Any, directory: Path, requirements: list[str]) -> Path:
    """`horus.cli.project.write_pyproject`: `<directory>/.horus/pyproject.toml` for these requirements."""
    path: Path = runtime_module().write_pyproject(project, directory, requirements)
    return path
