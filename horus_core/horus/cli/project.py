"""HORUS projects: read `horus.toml` and render the Python packaging input `horus build` writes.

A HORUS project is a directory with a `horus.toml` manifest:

    [package]
    name = "demo"
    version = "0.1.0"

    [dependencies]
    numpy = { version = "1.26.4", source = "pypi" }   # a bare version means ==1.26.4
    scipy = { version = ">=1.12", source = "pypi" }   # or any PEP 440 specifier set

`horus build` renders the `source = "pypi"` dependencies into `.horus/pyproject.toml`, which
`pip install -e .horus/` installs and pip-compile locks. Dependencies from other sources
(`path`, `git`, `system`, ...) are kept in the manifest but are not Python packages to lock.

Pure Python, standard library only (the pipeline imports it from the build machine).
Every problem is a `ManifestError` naming the file, the line and the key.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "horus.toml"
GENERATED = Path(".horus") / "pyproject.toml"

# PEP 508 names and PEP 440 versions, strictly enough to catch typos before pip does.
_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_VERSION = r"[0-9]+(\.[0-9]+)*([a-z]+[0-9]*)?(\.post[0-9]+)?(\.dev[0-9]+)?(\+[a-z0-9.]+)?"
_BARE = re.compile(rf"^{_VERSION}$")
_CLAUSE = re.compile(rf"^(==|!=|<=|>=|<|>|~=|===)\s*({_VERSION}|{_VERSION}\.\*)$")
_EXTRA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DEP_KEYS = {"version", "source", "extras"}


class ManifestError(ValueError):
    """horus.toml is missing or malformed; the message names file, line, key and the fix."""


@dataclass(frozen=True)
class Dependency:
    name: str  # as written in horus.toml
    specifier: str  # PEP 440 specifier set, "" for any version
    source: str  # "pypi", "path", ...
    extras: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The PEP 503 normalised name: how pip compares names."""
        return normalize(self.name)

    def requirement(self) -> str:
        """The PEP 508 requirement string for pip."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass(frozen=True)
class Project:
    path: Path  # the horus.toml file
    name: str
    version: str
    description: str
    dependencies: tuple[Dependency, ...]

    @property
    def root(self) -> Path:
        return self.path.parent

    def pypi_requirements(self) -> list[str]:
        """The `source = "pypi"` dependencies as PEP 508 strings, sorted by normalised name."""
        return [d.requirement() for d in sorted(self.dependencies, key=lambda d: d.key) if d.source == "pypi"]

    def config_hash(self) -> str:
        """sha256 of horus.toml as written (the `config_hash` horus.lock records)."""
        return "sha256:" + hashlib.sha256(self.path.read_bytes()).hexdigest()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_project(path: str | Path) -> Project:
    """Read a project's horus.toml (`path` is the file or the directory that holds it)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the HORUS manifest: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from None
    return _Reader(path, text).project(data)


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, table: str, key: str | None = None) -> int:
        """1-based line of `[table]` or of `key` inside it (0 when not found)."""
        start = 0
        for i, line in enumerate(self.lines, 1):
            if re.match(rf"^\s*\[\s*{re.escape(table)}\s*\]", line):
                start = i
                if key is None:
                    return i
                continue
            if start and key is not None:
                if re.match(r"^\s*\[", line):
                    break
                if re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
                    return i
        return start

    def fail(self, table: str, key: str | None, expected: str, got: object = None, fix: str = "") -> ManifestError:
        line = self.line_of(table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        dotted = f"{table}.{key}" if key else table
        got_text = "" if got is None else f", got {got!r}"
        return ManifestError(
            f"{where}: key {dotted!r}: expected {expected}{got_text}" + (f". Fix: {fix}" if fix else "")
        )

    def project(self, data: dict[str, object]) -> Project:
        package = data.get("package")
        if not isinstance(package, dict):
            raise self.fail(
                "package",
                None,
                "a [package] table with name and version",
                fix='add [package] with name = "..." and version = "..."',
            )
        name = package.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise self.fail("package", "name", "a package name (letters, digits, '-', '_', '.')", name)
        version = package.get("version")
        if not isinstance(version, str) or not _BARE.match(version):
            raise self.fail("package", "version", "a version such as '0.1.0'", version)
        description = package.get("description", "")
        if not isinstance(description, str):
            raise self.fail("package", "description", "a string", description)
        deps_table = data.get("dependencies", {})
        if not isinstance(deps_table, dict):
            raise self.fail("dependencies", None, "a [dependencies] table", deps_table)
        deps = tuple(self.dependency(k, v) for k, v in deps_table.items())
        seen: dict[str, str] = {}
        for dep in deps:
            if dep.key in seen:
                raise self.fail("dependencies", dep.name, f"each package once ({seen[dep.key]!r} is the same package)")
            seen[dep.key] = dep.name
        return Project(path=self.path, name=name, version=version, description=description, dependencies=deps)

    def dependency(self, name: str, value: object) -> Dependency:
        if not _NAME.match(name):
            raise self.fail("dependencies", name, "a package name (letters, digits, '-', '_', '.')", name)
        if not isinstance(value, dict):
            raise self.fail(
                "dependencies",
                name,
                '{ version = "...", source = "pypi" }',
                value,
                fix=f'write {name} = {{ version = "{value}", source = "pypi" }}',
            )
        unknown = sorted(set(value) - _DEP_KEYS)
        if unknown:
            raise self.fail("dependencies", name, f"only the keys {', '.join(sorted(_DEP_KEYS))}", unknown[0])
        source = value.get("source")
        if not isinstance(source, str) or not source:
            raise self.fail("dependencies", name, 'a source, such as source = "pypi"', source)
        version = value.get("version", "*")
        if not isinstance(version, str):
            raise self.fail("dependencies", name, "version as a string", version)
        extras = value.get("extras", [])
        if not isinstance(extras, list) or not all(isinstance(e, str) and _EXTRA.match(e) for e in extras):
            raise self.fail("dependencies", name, "extras as a list of names", extras)
        return Dependency(name=name, specifier=self.specifier(name, version), source=source, extras=tuple(extras))

    def specifier(self, name: str, version: str) -> str:
        version = version.strip()
        if version in ("", "*"):
            return ""
        if _BARE.match(version):
            return f"=={version}"
        clauses = [c.strip() for c in version.split(",")]
        if not all(_CLAUSE.match(c) for c in clauses):
            raise self.fail(
                "dependencies",
                name,
                "a version ('1.26.4' means ==) or PEP 440 specifiers ('>=1.26,<2')",
                version,
            )
        return ",".join(re.sub(r"\s+", "", c) for c in clauses)


def render_pyproject(project: Project, requirements: list[str] | None = None) -> str:
    """The `.horus/pyproject.toml` text for a project (`requirements` replaces its pypi dependencies)."""
    reqs = project.pypi_requirements() if requirements is None else requirements
    deps = "".join(f"    {_toml_str(r)},\n" for r in reqs)
    return (
        f"# Generated by `horus build` from {MANIFEST}: do not edit, edit {MANIFEST} instead.\n"
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
        "\n"
        "[project]\n"
        f"name = {_toml_str(project.name)}\n"
        f"version = {_toml_str(project.version)}\n"
        f"description = {_toml_str(project.description)}\n"
        f"dependencies = [\n{deps}]\n"
        "\n"
        "# Metadata only: the app's scripts run from the project directory, not from site-packages.\n"
        "[tool.setuptools]\n"
        "py-modules = []\n"
    )


def write_pyproject(project: Project, directory: Path | None = None, requirements: list[str] | None = None) -> Path:
    """Write `.horus/pyproject.toml` under `directory` (default: the project's own) and return its path."""
    out = (directory or project.root) / GENERATED
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_pyproject(project, requirements)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        tmp = out.with_name(out.name + "~")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    return out


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
