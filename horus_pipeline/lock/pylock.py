"""The PEP 751 lock beside each pip-tools lock: `lockfiles/pylock.<image>.toml`, from the same resolution.

The lock step writes both from one pip-compile run: the same packages, versions and files (one
wheel per hash of the pip-tools lock), each wheel with its URL, size and sha256, for the one
environment the image's robot is (`environments`: its marker set). Tools that read PEP 751
(pip-audit, `packaging.pylock`, pip 26.1+) see what the robot installs.

A URL is never one of this machine's mirrors: each file's URL is the one PyPI or an index the
image names gave for it; a file this machine found only in a local mirror or find-links
directory is recorded at the image's first index (`<index>/<file name>`, as the PyTorch CPU
index lays files out), or, for an image that names none, at PyPI's address for a file by name
(`files.pythonhosted.org/packages/<python tag>/<p>/<project>/<file name>`); an installer checks
it against the sha256 beside it. `check_in_sync` fails when the two locks of an image disagree.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

from packaging.utils import parse_wheel_filename

from ..errors import PipelineError
from ..images import ImageSpec
from .lockfile import Lock

PYPI_FILES = "files.pythonhosted.org"
# The markers that tell one robot from another; the others (os release, kernel) are the robot's own.
ENVIRONMENT_MARKERS = ("sys_platform", "platform_system", "platform_machine", "implementation_name", "python_version")


class PylockError(PipelineError):
    """A PEP 751 lock cannot be written, or does not agree with its image's pip-tools lock."""


def pylock_path(spec: ImageSpec, lockdir: Path | None = None) -> Path:
    return (lockdir or spec.lockfile.parent) / f"pylock.{spec.name}.toml"


def environment(spec: ImageSpec) -> str:
    """The robot's marker set as one PEP 508 marker (what `environments` names)."""
    env = spec.target.marker_environment()
    return " and ".join(f"{key} == {json.dumps(env[key])}" for key in ENVIRONMENT_MARKERS)


def public_url(spec: ImageSpec, filename: str, urls: Sequence[str]) -> str:
    """The URL to record for a file: one PyPI or the image's indexes gave, else at the image's first index."""
    indexes = [index.rstrip("/") + "/" for index in spec.indexes]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "https" and (parts.hostname == PYPI_FILES or any(url.startswith(i) for i in indexes)):
            return url
    if indexes:
        return indexes[0] + quote(filename)
    name, _, _, tags = parse_wheel_filename(filename)
    python = sorted({tag.interpreter for tag in tags})[0]
    return f"https://{PYPI_FILES}/packages/{python}/{name[0]}/{name}/{quote(filename)}"


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def render(spec: ImageSpec, lock: Lock, files: Sequence[dict[str, Any]]) -> str:
    """The PEP 751 text for the image's lock: its pins in lock order, each with the wheels of its hashes."""
    by_hash = {f"sha256:{f['sha256']}": f for f in files}
    lines = [
        f"# The PEP 751 form of {spec.name}.txt (same pins, same files), for tools that read pylock.toml.",
        f"# Written by `nox -s lock -- {spec.name}` for {spec.target.describe()}; do not edit.",
        'lock-version = "1.0"',
        f"environments = [{_string(environment(spec))}]",
        f"requires-python = {_string('==' + spec.target.python + '.*')}",
        'created-by = "horus-pipeline"',
    ]
    for pin in lock.pins.values():
        lines += ["", "[[packages]]", f"name = {_string(pin.name)}", f"version = {_string(pin.version)}"]
        for digest in pin.hashes:
            file = by_hash.get(digest)
            if file is None:
                raise PylockError(f"{spec.name}: pip-compile listed no file for {pin.requirement} {digest}")
            url = public_url(spec, file["filename"], file["urls"])
            wheel = file["filename"].endswith(".whl")
            lines += ["", "[[packages.wheels]]" if wheel else "[packages.sdist]", f"name = {_string(file['filename'])}"]
            lines.append(f"url = {_string(url)}")
            # PEP 751 makes size optional: known unless the only copy was a local file since deleted.
            lines += [f"size = {file['size']}"] if isinstance(file.get("size"), int) else []
            lines.append(f"hashes = {{sha256 = {_string(file['sha256'])}}}")
    return "\n".join(lines) + "\n"


def pins_of(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """{name: (version, its files' "sha256:<hex>")} of a pylock file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PylockError(f"{path}: not a readable PEP 751 lock ({exc}); re-lock with `nox -s lock`") from None
    pins = {}
    for package in data.get("packages", []):
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        pins[package["name"]] = (package["version"], frozenset(f"sha256:{f['hashes']['sha256']}" for f in files))
    return pins


def check_in_sync(spec: ImageSpec, lock: Lock, path: Path | None = None) -> None:
    """Fail, naming the packages, when `pylock.<image>.toml` and the pip-tools lock pin different things."""
    path = path or pylock_path(spec, lock.path.parent)
    if not path.is_file():
        raise PylockError(f"{path} does not exist: write it with `nox -s lock -- {spec.name}`")
    ours = pins_of(path)
    theirs = {name: (pin.version, frozenset(pin.hashes)) for name, pin in lock.pins.items()}
    differ = sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))
    if differ:
        shown = ", ".join(f"{n} ({_show(ours.get(n))} there, {_show(theirs.get(n))} here)" for n in differ)
        raise PylockError(
            f"{path.name} (there) and {lock.path.name} (here) disagree on {shown}: "
            f"re-lock with `nox -s lock -- {spec.name}`"
        )


def check_installable(spec: ImageSpec, path: Path | None = None) -> dict[str, str]:
    """The offline check of a pylock (pip 25.3 cannot install one): PEP 751's reader in `packaging`
    validates it and selects, for the robot's markers and wheel tags, one wheel per package, as an
    installer would; {package: the wheel's sha256}. Raises PylockError naming the file and the fault."""
    # Imported here: every lock writes a pylock, few runs read one back, and this is 5 ms of a 0.15 s re-lock.
    from packaging.markers import Environment
    from packaging.pylock import PackageWheel, Pylock, PylockSelectError, PylockValidationError
    from packaging.tags import Tag

    path = path or pylock_path(spec)
    try:
        doc = Pylock.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
        tags = [Tag(*tag.split("-")) for tag in spec.target.wheel_tags()]
        chosen = doc.select(environment=cast(Environment, spec.target.marker_environment()), tags=tags)
        picked = {package.name: archive for package, archive in chosen}
    except (OSError, tomllib.TOMLDecodeError, PylockValidationError, PylockSelectError) as exc:
        raise PylockError(f"{path}: not installable on {spec.target.describe()}: {exc}") from None
    odd = sorted(name for name, archive in picked.items() if not isinstance(archive, PackageWheel))
    if odd:  # a robot installs wheels only: nothing to build there
        raise PylockError(f"{path}: {', '.join(odd)} would not install from a wheel on {spec.target.describe()}")
    return {name: cast(PackageWheel, archive).hashes["sha256"] for name, archive in picked.items()}


def _show(pin: tuple[str, frozenset[str]] | None) -> str:
    return "absent" if pin is None else f"{pin[0]}, {len(pin[1])} file(s)"
