"""PEP 517 backend of horus_core: compile the C core with `python -m ziglang cc`, write an abi3 wheel.

No system compiler is needed: the pinned `ziglang` wheel (build-system.requires)
is the whole toolchain, for the host and for every robot CPU. By default the
wheel is for this machine's CPU; cross builds pass config settings:

    pip wheel ./horus_core -C zig-target=aarch64-linux-gnu.2.17 \\
        -C zig-cpu=baseline -C platform-tag=manylinux_2_17_aarch64

The wheel is byte-for-byte reproducible: no debug info or build paths in the
extension, entries sorted with fixed modes, every timestamp from
SOURCE_DATE_EPOCH (default 2026-01-01).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import platform
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("segment.c", "topic.c", "logring.c", "stats.c", "timing.c", "journal.c", "pycodec.c", "module.c")
# Sources of the Python extension alone (they include Python.h): not shipped for compiled nodes.
PYTHON_ONLY = ("module.c", "pycodec.c", "pycodec.h")
ZIG_VERSION = "0.17.0"  # keep in step with build-system.requires in pyproject.toml
# The Limited API floor: one cp310-abi3 wheel serves CPython 3.10 and every later version.
ABI_TAG = "cp310-abi3"
# The pipeline passes SOURCE_DATE_EPOCH; this default is horus_pipeline.determinism.DEFAULT_EPOCH.
DEFAULT_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
ZIP_FLOOR = 315532800  # 1980-01-01: zip cannot store an earlier time
FILE_MODE = 0o644
EXEC_MODE = 0o755
WARNINGS = ("-Wall", "-Wextra", "-Werror")


class BuildError(RuntimeError):
    """A build problem with the fix in its message."""


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))


def _dist_name(project: dict) -> str:
    return project["name"].replace("-", "_")


def _settings(config_settings: dict | None) -> tuple[str, str, str]:
    """(zig target, cpu, platform tag): the host by default, or what the caller asked for."""
    cs = config_settings or {}
    machine = platform.machine()
    target = cs.get("zig-target") or f"{machine}-linux-gnu.2.17"
    cpu = cs.get("zig-cpu") or "baseline"
    tag = cs.get("platform-tag") or f"manylinux_2_17_{machine}"
    return target, cpu, tag


def cache_root() -> str:
    """The pipeline's cache directory (horus_pipeline/cache.py decides the same way; a test holds them together).

    This backend also builds on robots and in isolated build environments, where the pipeline
    package is not importable: hence the second copy of the rule.
    """
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("HORUS_CACHE") or os.path.join(xdg, "horus-pipeline")


def _zig_env(build_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ZIG_GLOBAL_CACHE_DIR"] = os.path.join(cache_root(), "zig")
    env["ZIG_LOCAL_CACHE_DIR"] = os.path.join(build_dir, "zig-local")
    env["SOURCE_DATE_EPOCH"] = str(_epoch())
    return env


def _check_zig() -> None:
    try:
        out = subprocess.run(
            [sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise BuildError(
            f"the zig compiler is missing ({exc}): install the pinned one with "
            f"`pip install ziglang=={ZIG_VERSION}` (pip does this itself when it builds horus_core)"
        ) from None
    if out != ZIG_VERSION:
        raise BuildError(
            f"zig {out} found, but horus_core is built and tested with zig {ZIG_VERSION}: "
            f"`pip install ziglang=={ZIG_VERSION}`, or let pip build in an isolated environment"
        )


def compile_extension(out: Path, target: str, cpu: str, build_dir: str) -> None:
    """Compile csrc/*.c into the abi3 extension `out` for `target`."""
    _check_zig()
    src = ROOT / "csrc"
    include = sysconfig.get_paths()["include"]
    argv = [
        sys.executable, "-m", "ziglang", "cc",
        "-target", target, f"-mcpu={cpu}",
        "-std=c11", "-O2", "-fPIC", "-shared", *WARNINGS,
        # Reproducible and small: no debug info, no symbol table, no build-id, no build paths.
        "-g0", "-s", "-Wl,--build-id=none", f"-ffile-prefix-map={src}=horus_core/csrc",
        "-fvisibility=hidden",
        "-I", include,
        *[str(src / name) for name in SOURCES],
        "-o", str(out),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=build_dir, env=_zig_env(build_dir), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"compiling the HORUS core for {target} failed:\n{proc.stderr}{proc.stdout}")


def _metadata(project: dict) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.10')}",
    ]
    for extra, reqs in sorted(project.get("optional-dependencies", {}).items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    lines += [f"Requires-Dist: {r}" for r in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _entry_points(project: dict) -> str:
    scripts = project.get("scripts", {})
    body = "".join(f"{name} = {target}\n" for name, target in sorted(scripts.items()))
    return f"[console_scripts]\n{body}" if body else ""


def _zipinfo(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.gmtime(max(_epoch(), ZIP_FLOOR))[:6])
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files() -> list[tuple[str, bytes, int]]:
    files = []
    for path in sorted((ROOT / "horus").rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in rel and path.suffix in (".py", ".pyi", ".typed"):
            files.append((rel, path.read_bytes(), FILE_MODE))
    # The C node API (horus.capi): its header and node.c with the core's headers and sources, so
    # compiled nodes build against the installed runtime. The Python extension's own files are not.
    for path in sorted([*(ROOT / "capi").iterdir(), *(ROOT / "csrc").iterdir()]):
        if path.suffix in (".c", ".h") and path.name not in PYTHON_ONLY:
            files.append((f"horus/c/{path.name}", path.read_bytes(), FILE_MODE))
    return files


def write_wheel(wheel_path: Path, files: list[tuple[str, bytes, int]]) -> None:
    """Write files (name, data, mode) as a wheel with a complete RECORD, sorted, fixed timestamps."""
    dist_info = next(n.split("/")[0] for n, _, _ in files if n.endswith(".dist-info/WHEEL"))
    record_name = f"{dist_info}/RECORD"
    ordered = sorted(files, key=lambda f: (f[0].startswith(dist_info), f[0]))
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d, _ in ordered) + f"{record_name},,\n"
    tmp = wheel_path.with_name(wheel_path.name + "~")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data, mode in [*ordered, (record_name, record.encode(), FILE_MODE)]:
            zf.writestr(_zipinfo(name, mode), data, compresslevel=9)
    os.replace(tmp, wheel_path)


def _wheel_name(project: dict, tag: str) -> str:
    return f"{_dist_name(project)}-{project['version']}-{ABI_TAG}-{tag}.whl"


def build_wheel(
    wheel_directory: str, config_settings: dict | None = None, metadata_directory: str | None = None
) -> str:
    project = _project()
    target, cpu, tag = _settings(config_settings)
    dist_info = f"{_dist_name(project)}-{project['version']}.dist-info"
    with tempfile.TemporaryDirectory(prefix="horus-build-") as build_dir:
        ext = Path(build_dir) / "_core.abi3.so"
        compile_extension(ext, target, cpu, build_dir)
        files = _package_files()
        files.append(("horus/_core.abi3.so", ext.read_bytes(), EXEC_MODE))
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: horus_build\nRoot-Is-Purelib: false\nTag: {ABI_TAG}-{tag}\n"
    files += [
        (f"{dist_info}/METADATA", _metadata(project).encode(), FILE_MODE),
        (f"{dist_info}/WHEEL", wheel_meta.encode(), FILE_MODE),
    ]
    if entry_points := _entry_points(project):
        files.append((f"{dist_info}/entry_points.txt", entry_points.encode(), FILE_MODE))
    name = _wheel_name(project, tag)
    write_wheel(Path(wheel_directory) / name, files)
    return name


def _sdist_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name or info.name.endswith((".so", ".pyc")):
        return None
    info.mtime = _epoch()
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = EXEC_MODE if info.isdir() or info.mode & 0o100 else FILE_MODE
    return info


def build_sdist(sdist_directory: str, config_settings: dict | None = None) -> str:
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    members = ["pyproject.toml", "README.md", "build_backend", "capi", "csrc", "horus"]
    out = Path(sdist_directory) / f"{base}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata(project).encode()
        pkg_info.size, pkg_info.mtime, pkg_info.mode = len(data), _epoch(), FILE_MODE
        tar.addfile(pkg_info, io.BytesIO(data))
        for member in members:
            for path in sorted([ROOT / member, *sorted((ROOT / member).rglob("*"))]):
                if path.exists():
                    tar.add(
                        path,
                        f"{base}/{path.relative_to(ROOT).as_posix()}",
                        recursive=False,
                        filter=_sdist_filter,
                    )
    with open(out, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    return out.name


def get_requires_for_build_wheel(config_settings: dict | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: dict | None = None) -> list[str]:
    return []
