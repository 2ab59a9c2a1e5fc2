"""Compiled nodes: the C programs an image's services run, cross-compiled by zig into one layer.

A service with `program = "cnodes/motor.c"` (images.py) runs that C program of the app instead
of a Python script. Each such program is compiled with the HORUS C node API as the image's
horus_core wheel ships it (`horus/c/`: horus_node.h, horus_msgs.h, node.c and the core's
sources), so a compiled node speaks exactly the release's topics and message layouts. zig
compiles it for the robot's CPU with the core's triple and `-mcpu`, reproducibly: no debug
info, symbols, build id or build paths. The layer (kind `native`) holds

    native/<service>     the executable the service's unit runs, <prefix>/current/native/<service>

and is linked into the release directory, as the assembly tool is. Its name covers every input:
the core wheel, the sources of the programs' directories, the compiler flags and zig's version.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ..cache import cache_dir
from ..console import step
from ..core import zig_version
from ..determinism import child_env
from ..errors import PipelineError
from ..images import ImageSpec
from ..proc import run
from ..targets import Arch
from .layers import Layer, build_tree_layer, cached_layer, layer_hash

# Warnings are errors: a robot runs nothing the compiler doubted. Reproducible and small.
CFLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-g0", "-s", "-Wl,--build-id=none")
API_DIR = "horus/c/"  # where the core wheel ships the C node API


class NativeBuildError(PipelineError):
    """A compiled node does not build; the message names the service, its program and the compiler's words."""


def native_services(spec: ImageSpec) -> list[tuple[str, Path]]:
    """(service name, C program) of each compiled service of the image."""
    return [(s.name, spec.app / s.program) for s in spec.services if s.program]


def _sources(spec: ImageSpec) -> list[Path]:
    """The C sources and headers a compiled service may use: those of its program's directory."""
    dirs = sorted({program.parent for _, program in native_services(spec)})
    return sorted({p for d in dirs for p in d.iterdir() if p.suffix in (".c", ".h") and p.is_file()})


def _input_hash(spec: ImageSpec, core_sha256: str) -> str:
    blob = {
        "core": core_sha256,
        "zig": zig_version(),
        "cflags": CFLAGS,
        "cpu": spec.target.arch.zig_cpu,
        "programs": [[name, program.relative_to(spec.app).as_posix()] for name, program in native_services(spec)],
        "sources": {
            p.relative_to(spec.app).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in _sources(spec)
        },
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _extract_api(core_wheel: Path, into: Path) -> list[Path]:
    """The wheel's C node API files, written into `into`; its .c files returned (what a node links)."""
    with zipfile.ZipFile(core_wheel) as whl:
        names = [n for n in whl.namelist() if n.startswith(API_DIR) and n.endswith((".c", ".h"))]
        if not any(n.endswith("horus_node.h") for n in names):
            raise NativeBuildError(f"{core_wheel.name} ships no C node API ({API_DIR}horus_node.h): rebuild it")
        for name in names:
            (into / Path(name).name).write_bytes(whl.read(name))
    return sorted(into / Path(n).name for n in names if n.endswith(".c"))


def compile_program(app: Path, program: Path, arch: Arch, api: Path, sources: Sequence[Path], out: Path) -> None:
    """Compile `program` of the app with the node API in `api` (its headers; `sources`, its .c files)
    into the executable `out`, for `arch`."""
    argv = [
        sys.executable, "-m", "ziglang", "cc", "-target", arch.zig_triple, f"-mcpu={arch.zig_cpu}", *CFLAGS,
        # Paths inside the binary (assertions, __FILE__) name the app and the API, not this machine.
        f"-ffile-prefix-map={app}=app", f"-ffile-prefix-map={api}=horus",
        "-I", str(api), "-I", str(program.parent), str(program), *map(str, sources), "-o", str(out),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="horus-zig-") as local:
        zig = {"ZIG_GLOBAL_CACHE_DIR": str(cache_dir("zig")), "ZIG_LOCAL_CACHE_DIR": local}
        try:
            run(argv, what=f"zig cc {program.name}", env=child_env(zig))
        except PipelineError as exc:
            raise NativeBuildError(
                f"{program.relative_to(app)} does not compile for {arch.name} (warnings are errors): {exc}"
            ) from None


def build_native_layer(spec: ImageSpec, core_wheel: Path, core_sha256: str, version: str) -> tuple[Layer, bool]:
    """The image's compiled services as one layer (from the cache, or built now), and whether it was built."""
    # Keyed by the inputs, not the outputs: a cached layer spares the compile too.
    inputs = _input_hash(spec, core_sha256)
    if (layer := cached_layer(layer_hash("native", inputs, spec.target))) is not None:
        return layer, False
    with tempfile.TemporaryDirectory(prefix="horus-native-") as tmp:
        api, tree = Path(tmp) / "c", Path(tmp) / "tree"
        (tree / "native").mkdir(parents=True)
        api.mkdir()
        sources = _extract_api(core_wheel, api)
        for name, program in native_services(spec):
            with step(f"zig cc {program.relative_to(spec.app)} for {spec.target.arch.name}"):
                try:
                    compile_program(spec.app, program, spec.target.arch, api, sources, tree / "native" / name)
                except NativeBuildError as exc:
                    raise NativeBuildError(f"{spec.path}: service {name!r}: {exc}. Fix the C source") from None
        outputs = sorted((tree / "native").iterdir())
        return build_tree_layer(tree, outputs, "native", spec.app_name, version, spec.target, False, content=inputs)
