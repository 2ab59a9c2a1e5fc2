"""`nox -s core`: horus_core wheels for every robot CPU, cross-compiled by zig on this host.

For each arch of the target table the PEP 517 backend of horus_core compiles the
C core with `zig cc -target <arch>-linux-gnu.2.17 -mcpu=baseline`; `auditwheel
show` must then find each wheel consistent with its manylinux_2_17 tag, or the
build fails. Output: dist/wheels/horus_core-<version>-<Arch.core_wheel_tag>.whl.

The arches build side by side (zig runs in a child). Beside each wheel, `.<wheel>.inputs`
records the hash of what made it (horus_core's files, zig, this Python, the epoch, the arch's
settings) and the wheel's sha256: while both still hold, the wheel is kept as it is, neither
rebuilt nor audited again (a warm `nox -s build` spends a few milliseconds here, not seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from . import REPO
from .console import info, run_cli, step
from .determinism import child_env, sha256_file, source_date_epoch, write_atomic
from .errors import PipelineError
from .proc import run
from .targets import ARCHES, Arch, get_arch

CORE_SRC = REPO / "horus_core"
WHEELS = REPO / "dist" / "wheels"


class AuditError(PipelineError):
    """auditwheel does not agree with the tag a wheel claims."""


def zig_version() -> str:
    proc = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PipelineError(
            "zig is not installed in this environment: `pip install -r lockfiles/tools.txt` installs the pinned "
            "ziglang (or run through nox, which does)"
        )
    return proc.stdout.strip()


def _settings(arch: Arch) -> dict[str, str]:
    return {"zig-target": arch.zig_triple, "zig-cpu": arch.zig_cpu, "platform-tag": arch.core_platform_tag}


def _sources(src: Path) -> list[Path]:
    """horus_core's files that go into a wheel or make one (caches and hidden files aside)."""
    found = []
    for top, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found += [Path(top) / name for name in sorted(files) if not name.startswith(".") and not name.endswith(".pyc")]
    return found


def core_inputs(arch: Arch, src: Path = CORE_SRC) -> str:
    """The hash of everything a horus_core wheel for `arch` is made from."""
    digest = hashlib.sha256()
    for path in _sources(src):
        digest.update(f"{path.relative_to(src).as_posix()}\0{sha256_file(path)}\n".encode())
    made_by = {
        "settings": _settings(arch),
        "zig": metadata.version("ziglang"),
        "build": metadata.version("build"),
        "python": sys.version,  # the Limited API headers the extension is compiled against
        "epoch": source_date_epoch(),
    }
    digest.update(json.dumps(made_by, sort_keys=True).encode())
    return digest.hexdigest()


def _stamp(wheel: Path) -> Path:
    return wheel.with_name(f".{wheel.name}.inputs")


def up_to_date(arch: Arch, inputs: str, out_dir: Path = WHEELS) -> Path | None:
    """The wheel for `arch` in out_dir if it was made from `inputs` and is still the file then made."""
    for wheel in out_dir.glob(f"horus_core-*-{arch.core_wheel_tag}.whl"):
        try:
            stamp = json.loads(_stamp(wheel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if stamp.get("inputs") == inputs and stamp.get("sha256") == sha256_file(wheel):
            return wheel
    return None


def build_core_wheel(arch: Arch, out_dir: Path = WHEELS, src: Path = CORE_SRC) -> Path:
    """Build the horus_core wheel for `arch` into out_dir (atomically) and return its path."""
    from build import ProjectBuilder

    settings = _settings(arch)
    out_dir.mkdir(parents=True, exist_ok=True)

    def runner(cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        proc = subprocess.run(cmd, cwd=cwd, env=child_env(extra_environ), capture_output=True, text=True)
        if proc.returncode != 0:
            raise PipelineError(f"building horus_core for {arch.name} failed:\n{proc.stderr.strip()}")

    builder = ProjectBuilder(str(src), runner=runner)
    # The backend writes `name~` and renames it, so a failed build leaves the last good wheel.
    name = builder.build("wheel", str(out_dir), config_settings=settings)
    return Path(name)


_CONSISTENT = re.compile(r'consistent with the following platform tag:\s*"([^"]+)"')


def audit(wheel: Path, arch: Arch) -> str:
    """Return the platform tag auditwheel finds the wheel consistent with; fail if it is not ours."""
    text = run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)], what=f"auditwheel show {wheel.name}"
    ).stdout.decode()
    flat = " ".join(text.split())
    match = _CONSISTENT.search(flat)
    if not match:
        raise AuditError(f"auditwheel could not place {wheel.name} on any manylinux tag:\n{text}")
    tag = match.group(1)
    if tag != arch.core_platform_tag:
        raise AuditError(
            f"{wheel.name} claims {arch.core_platform_tag} but auditwheel says it is consistent with {tag}:\n{text}"
        )
    return tag


def _build_checked(arch: Arch, inputs: str, out_dir: Path) -> Path:
    """Build and audit the wheel for `arch`, then record what it was made from."""
    with step(f"horus_core for {arch.name} ({arch.zig_triple}, -mcpu={arch.zig_cpu})"):
        wheel = build_core_wheel(arch, out_dir)
    with step(f"auditwheel show {wheel.name}"):
        tag = audit(wheel, arch)
    info(f"{wheel} ({wheel.stat().st_size // 1024} KiB) is consistent with {tag}")
    record = {"inputs": inputs, "sha256": sha256_file(wheel)}
    write_atomic(_stamp(wheel), json.dumps(record, sort_keys=True) + "\n")
    return wheel


def build_all(arches: Sequence[Arch], out_dir: Path = WHEELS) -> list[Path]:
    """The wheel of each arch: kept when its inputs did not change, else built, the arches side by side."""
    inputs = {arch.name: core_inputs(arch) for arch in arches}
    kept = {arch.name: up_to_date(arch, inputs[arch.name], out_dir) for arch in arches}
    stale = [arch for arch in arches if kept[arch.name] is None]
    for arch in arches:
        if (wheel := kept[arch.name]) is not None:
            info(f"{wheel}: up to date (horus_core, zig and settings unchanged)")
    if stale:
        info(
            f"zig {zig_version()}, Python {sys.version.split()[0]}; building horus_core for "
            + ", ".join(a.name for a in stale)
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(len(stale)) as pool:
            futures = {a.name: pool.submit(_build_checked, a, inputs[a.name], out_dir) for a in stale}
            kept.update({name: future.result() for name, future in futures.items()})
    return [wheel for arch in arches if (wheel := kept[arch.name]) is not None]


def wheel_for(arch: Arch, out_dir: Path = WHEELS) -> Path:
    """The built core wheel for `arch`; an error saying how to build it if it is missing."""
    found = sorted(out_dir.glob(f"horus_core-*-{arch.core_wheel_tag}.whl"))
    if not found:
        raise PipelineError(f"no horus_core wheel for {arch.name} in {out_dir}: run `nox -s core`")
    return found[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s core",
        description="Cross-compile the horus_core wheel for every robot CPU with zig, and check each with auditwheel.",
    )
    parser.add_argument(
        "--arch", action="append", metavar="ARCH",
        help=f"build only this arch (repeatable): {', '.join(ARCHES)}; default: all",
    )  # fmt: skip
    parser.add_argument("--host", action="store_true", help="build only for this machine's CPU (for local tests)")
    parser.add_argument("--out", type=Path, default=WHEELS, help="output directory (default: dist/wheels)")
    args = parser.parse_args(argv)

    def body() -> None:
        names = [*(args.arch or []), *([platform.machine()] if args.host else [])]
        build_all([get_arch(a) for a in names] if names else list(ARCHES.values()), args.out)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
