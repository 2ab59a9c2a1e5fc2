"""Content-addressed layers: one locked wheel (or the app, or the assembly tool) as a deterministic tar.gz.

A package layer is one wheel installed with `installer` into a directory laid out like the
venv it will be linked into on the robot:

    lib/python3.X/site-packages/...   purelib and platlib, with hash-based .pyc (see below)
    bin/...                           the wheel's own scripts (`.data/scripts`), relocatable
    include/site/python3.X/<name>/    headers
    (anything else)                   the wheel's `.data/data` files, relative to the venv

Console scripts (entry points) are not written into the layer: their shebang must name the
interpreter of the release they end up in, so the layer records them and the robot's
assembly tool writes them. `.pyc` files are compiled here, on the host, with
CHECKED_HASH invalidation (valid whatever the files' dates), but only when this Python has
the target's minor version (bytecode is per minor); otherwise the layer has none and the
robot compiles nothing either (imports then just run from source).

A layer's name is the sha256 of what determines its bytes: the layout version, its kind,
the wheel's sha256 (the app's content hash), the target, the .pyc mode, the installer
version and the compressor (libdeflate's version and level). Built layers are kept in the
cache (`<cache>/layers/<hash>.tar.gz` and `.json`, the json written last), so the same wheel
for the same target is built once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Literal, get_args

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from ..cache import cache_dir
from ..console import step
from ..determinism import GZIP_LEVEL, child_env, normalized_mode, sha256_file, sorted_walk, write_tar_gz
from ..errors import PipelineError
from ..robot.assemble import INDEX_NAME, console_script_problem  # the robot's rules, checked at build
from ..targets import Target

# Bump when what goes into a layer, or where, changes: every layer gets a new name.
LAYOUT_VERSION = 1
# Raw `#!python` scripts of a wheel run the venv's python next to them, wherever the venv is
# (pip's trick for long paths): sh finds the directory of the script and execs python there.
RELOCATABLE_INTERPRETER = '/bin/sh\n\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")/python" "$0" "$@"\n\' \'\'\''
# Files never put into an app layer: caches and hidden files of the working tree.
APP_EXCLUDE = {"__pycache__", ".horus", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
LayerKind = Literal["package", "core", "app", "native", "tool", "sbom"]
KINDS: tuple[LayerKind, ...] = get_args(LayerKind)


class LayerError(PipelineError):
    """A layer cannot be built; the message names the package or file."""


@dataclass(frozen=True)
class ConsoleScript:
    name: str
    module: str
    attr: str
    section: str  # "console" or "gui"


@dataclass
class Layer:
    """A built layer: its name (hash), what it holds and its archive in the cache."""

    hash: str
    kind: LayerKind
    name: str
    version: str
    source_sha256: str  # the wheel's sha256, or the content hash of the app / tool
    archive_sha256: str
    archive_size: int
    size: int  # bytes of its files, unpacked
    pyc: str  # "checked-hash" or "none"
    files: dict[str, str]  # path inside the layer -> sha256 of every regular file (INDEX_NAME aside)
    index_sha256: str = ""  # of the layer's INDEX_NAME file
    console_scripts: list[ConsoleScript] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # top-level importable names

    @property
    def archive(self) -> Path:
        return layer_store() / f"{self.hash}.tar.gz"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Layer:
        scripts = [ConsoleScript(**s) for s in data.pop("console_scripts")]  # type: ignore[attr-defined]
        return cls(console_scripts=scripts, **data)  # type: ignore[arg-type]


def layer_store() -> Path:
    return cache_dir("layers")


def site_packages(target: Target) -> str:
    return f"lib/python{target.python}/site-packages"


def pyc_mode(target: Target) -> str:
    """Hash-based .pyc when this Python can write the target's bytecode, else none."""
    return "checked-hash" if f"{sys.version_info[0]}.{sys.version_info[1]}" == target.python else "none"


def layer_hash(kind: str, source_sha256: str, target: Target) -> str:
    """The name of the layer of `kind` built from the source with that hash for the target."""
    blob = json.dumps(
        {
            "layout": LAYOUT_VERSION,
            "kind": kind,
            "source": source_sha256,
            "target": target.describe(),
            "pyc": pyc_mode(target),
            "installer": metadata.version("installer"),
            # Another compressor writes other archive bytes for the same files: another name, so no
            # cache anywhere holds an archive of this name made another way.
            "archive": f"libdeflate {metadata.version('deflate')} -{GZIP_LEVEL}",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_layer(hash_: str) -> Layer | None:
    """The built layer with this name, if the cache holds it complete."""
    meta = layer_store() / f"{hash_}.json"
    if not meta.is_file() or not (layer_store() / f"{hash_}.tar.gz").is_file():
        return None
    return Layer.from_json(json.loads(meta.read_text(encoding="utf-8")))


class _BadEntryPoint(Exception):
    """A wheel's console script with a name, module or attribute no robot may write."""


class _LayerDestination(SchemeDictionaryDestination):
    """installer's destination for one layer: entry points are recorded, not written."""

    def __init__(self, scheme_dict: dict[str, str]) -> None:
        super().__init__(scheme_dict=scheme_dict, interpreter=RELOCATABLE_INTERPRETER, script_kind="posix")
        self.console_scripts: list[ConsoleScript] = []

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        # A wheel's own scripts are commands: executable whatever bits the zip carries (as pip does).
        return super().write_file(scheme, path, stream, is_executable or scheme == "scripts")

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        # The robot writes these as root into venv/bin: a hostile name must stop the build here.
        problem = console_script_problem(name, module, attr)
        if problem:
            raise _BadEntryPoint(problem)
        self.console_scripts.append(ConsoleScript(name, module, attr, section))
        return RecordEntry(name, None, None)


def install_wheel(wheel: Path, root: Path, target: Target) -> list[ConsoleScript]:
    """Install a wheel into the layer directory `root` (venv layout); return its console scripts."""
    from packaging.utils import parse_wheel_filename

    name = parse_wheel_filename(wheel.name)[0]
    site = root / site_packages(target)
    scheme = {
        "purelib": str(site),
        "platlib": str(site),
        "headers": str(root / "include" / "site" / f"python{target.python}" / name),
        "scripts": str(root / "bin"),
        "data": str(root),
    }
    destination = _LayerDestination(scheme)
    try:
        with WheelFile.open(wheel) as source:
            install(source, destination, {"INSTALLER": b"horus-bundle\n"})
    except _BadEntryPoint as exc:
        raise LayerError(
            f"{wheel.name} declares a console script a robot must not write: {exc}. "
            "Pin another version of that package (or drop it) and re-lock"
        ) from None
    except Exception as exc:  # installer raises several kinds for a broken wheel
        raise LayerError(f"cannot install {wheel.name} into a layer: {exc}") from exc
    return sorted(destination.console_scripts, key=lambda s: s.name)


_COMPILE = """
import py_compile, sys
root = sys.argv[1]
for rel in sys.stdin.read().split("\\0"):
    if rel:
        py_compile.compile(root + "/" + rel, dfile=rel, doraise=False, quiet=2,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
"""


def compile_pyc(root: Path, under: str, workers: int = 2) -> None:
    """Write CHECKED_HASH .pyc beside every .py under root/under, each embedding its layer-relative path.

    Runs in children with the fixed hash seed of child_env(), so the bytes do not depend on
    ours; files are dealt round-robin from the sorted list, and each .pyc depends only on its
    source, so the number of workers does not change the output.
    """
    base = root / under
    if not base.is_dir():
        return
    sources = [p.relative_to(root).as_posix() for p in sorted_walk(base) if p.suffix == ".py" and p.is_file()]
    procs = []
    for index in range(max(1, workers)):
        chunk = sources[index::workers]
        if not chunk:
            continue
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _COMPILE, str(root)], stdin=subprocess.PIPE, env=child_env(), cwd=root
        )
        assert proc.stdin is not None
        proc.stdin.write("\0".join(chunk).encode())
        proc.stdin.close()
        procs.append(proc)
    codes = [proc.wait() for proc in procs]
    if any(codes):
        raise LayerError(f"compiling .pyc under {under} failed (exit codes {codes})")


def index_files(root: Path) -> tuple[dict[str, str], int]:
    """sha256 of every regular file under root by relative path, and their total size; refuses symlinks."""
    files: dict[str, str] = {}
    size = 0
    for path in sorted_walk(root):
        if path.is_symlink():
            raise LayerError(f"{path}: a layer holds no symlinks")
        if path.is_file():
            files[path.relative_to(root).as_posix()] = sha256_file(path)
            size += path.stat().st_size
    return files, size


def top_level_modules(files: Iterable[str], target: Target) -> list[str]:
    """Importable top-level names a layer provides (packages, modules, extension modules)."""
    prefix = site_packages(target) + "/"
    names = set()
    for path in files:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        first = parts[0]
        if len(parts) == 1:
            if first.endswith(".py"):
                names.add(first[:-3])
            elif first.endswith(".so"):
                names.add(first.split(".", 1)[0])
        elif parts[1] == "__init__.py" and len(parts) == 2:
            names.add(first)
    return sorted(n for n in names if n.isidentifier())


def index_text(files: dict[str, str]) -> str:
    """The layer's INDEX_NAME content: the sha256 of each of its files, canonical JSON."""
    return json.dumps({"files": files}, sort_keys=True, separators=(",", ":")) + "\n"


def _finish(tmp: Path, tree: Path, layer: Layer) -> Layer:
    """Archive the tree and publish archive then json into the store (json last: it marks complete)."""
    index = index_text(layer.files).encode()
    (tree / INDEX_NAME).write_bytes(index)
    layer.index_sha256 = hashlib.sha256(index).hexdigest()
    archive_tmp = tmp / "layer.tar.gz"
    write_tar_gz(tree, archive_tmp)
    layer.archive_sha256 = sha256_file(archive_tmp)
    layer.archive_size = archive_tmp.stat().st_size
    store = layer_store()
    archive_tmp.replace(store / f"{layer.hash}.tar.gz")
    meta_tmp = tmp / "layer.json"
    meta_tmp.write_text(json.dumps(layer.to_json(), sort_keys=True, indent=1) + "\n", encoding="utf-8")
    meta_tmp.replace(store / f"{layer.hash}.json")
    return layer


def pure_wheel(filename: str) -> bool:
    """A wheel every CPU installs alike (all its tags `none-any`): its layer's files depend on the
    target's Python only, so the layers of two arches of one Python are the same bytes."""
    from packaging.utils import parse_wheel_filename

    return all(tag.abi == "none" and tag.platform == "any" for tag in parse_wheel_filename(filename)[3])


def same_archive(layer: Layer, hash_: str) -> Layer:
    """The layer named `hash_` whose archive is `layer`'s (built for another target, the same bytes):
    its archive is a hard link to `layer`'s in the store, its json says its own name."""
    store = layer_store()
    twin = Layer.from_json({**layer.to_json(), "hash": hash_})
    with tempfile.TemporaryDirectory(prefix=".build-", dir=store) as tmp:
        os.link(layer.archive, Path(tmp) / "layer.tar.gz")
        (Path(tmp) / "layer.tar.gz").replace(twin.archive)
        meta = Path(tmp) / "layer.json"
        meta.write_text(json.dumps(twin.to_json(), sort_keys=True, indent=1) + "\n", encoding="utf-8")
        meta.replace(store / f"{hash_}.json")
    return twin


def _build_layer(label: str, lay_out: Callable[[Path], Layer]) -> Layer:
    """Build a layer now, under a step named `label`: `lay_out` fills the tree directory it is given
    and returns the layer's description (`_described`); the tree is then archived into the cache."""
    with step(label), tempfile.TemporaryDirectory(prefix=".build-", dir=layer_store()) as tmp:
        tree = Path(tmp) / "tree"
        return _finish(Path(tmp), tree, lay_out(tree))


def _described(
    tree: Path, pyc: str, pyc_under: str, hash_: str, kind: LayerKind, name: str, version: str, source_sha256: str
) -> Layer:
    """A laid-out tree as a layer not yet archived: its .pyc compiled under `pyc_under` (unless pyc is
    "none") and every file indexed."""
    if pyc != "none":
        compile_pyc(tree, pyc_under)
    files, size = index_files(tree)
    return Layer(
            hash=hash_, kind=kind, name=name, version=version, source_sha256=source_sha256,
            archive_sha256="", archive_size=0, size=size, pyc=pyc, files=files,
        )  # fmt: skip


def build_wheel_layer(
    wheel: Path, sha256: str, kind: LayerKind, name: str, version: str, target: Target
) -> tuple[Layer, bool]:
    """The layer of this wheel for the target, from the cache or built now; and whether it was built."""
    hash_ = layer_hash(kind, sha256, target)
    if (layer := cached_layer(hash_)) is not None:
        return layer, False

    def lay_out(tree: Path) -> Layer:
        scripts = install_wheel(wheel, tree, target)
        layer = _described(tree, pyc_mode(target), site_packages(target), hash_, kind, name, version, sha256)
        layer.console_scripts = scripts
        layer.modules = top_level_modules(layer.files, target)
        return layer

    return _build_layer(f"layer {name} {version} ({wheel.stat().st_size // 1024} KiB wheel)", lay_out), True


def tree_content_hash(src: Path, paths: Sequence[Path]) -> str:
    """sha256 over the relative path, normalised mode and content hash of each file (sorted)."""
    digest = hashlib.sha256()
    for path in paths:
        mode = normalized_mode(path.stat().st_mode, is_dir=False)
        rel = path.relative_to(src).as_posix()
        digest.update(f"{rel}\0{mode:o}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def app_files(app: Path) -> list[Path]:
    """The files of an app directory that ship: all but caches, hidden files and compiled bytecode."""
    if not app.is_dir():
        raise LayerError(f"app directory {app} does not exist")
    found = []
    for top, dirs, files in os.walk(app):
        dirs[:] = sorted(d for d in dirs if d not in APP_EXCLUDE and not d.startswith("."))
        for name in sorted(files):
            path = Path(top) / name
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            if path.is_symlink() or not path.is_file():
                raise LayerError(f"{path}: an app ships regular files only (no symlinks or devices)")
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(app).as_posix())


def build_tree_layer(
    src: Path,
    paths: Sequence[Path],
    kind: LayerKind,
    name: str,
    version: str,
    target: Target,
    pyc: bool,
    content: str | None = None,
) -> tuple[Layer, bool]:
    """A layer of plain files (the app, the assembly tool), keyed by their content hash (or by
    `content`, the hash of what made them, for files built from sources)."""
    content = content or tree_content_hash(src, paths)
    hash_ = layer_hash(kind, content, target)
    if (layer := cached_layer(hash_)) is not None:
        return layer, False

    def lay_out(tree: Path) -> Layer:
        for path in paths:
            dest = tree / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            os.chmod(dest, normalized_mode(path.stat().st_mode, is_dir=False))
        return _described(tree, pyc_mode(target) if pyc else "none", ".", hash_, kind, name, version, content)

    return _build_layer(f"layer {kind} {name} {version} ({len(paths)} files)", lay_out), True
