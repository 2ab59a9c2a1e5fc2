"""Host tools the pipeline drives (mmdebstrap, systemd-nspawn, qemu-user), installed on demand.

Debian hosts only, as root: missing packages come from apt (`apt-get update` at most once per
process), and foreign robot CPUs get a qemu-user handler in binfmt_misc registered with the
`F` (fix binary) flag, so the interpreter is opened at registration and works inside any
rootfs without copying qemu into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..console import info, step
from ..errors import PipelineError
from ..proc import run
from ..targets import Arch

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

# What simulated robots and rootfs builds need on the host, and what else each one brings.
SIM_PACKAGES = ("mmdebstrap", "systemd-container", "iproute2", "openssh-client")
# mkfs.ext4 and debugfs, zstd, GNU tar: what `nox -s image` writes a disk image with.
IMAGE_PACKAGES = ("e2fsprogs", "zstd", "tar")
FOREIGN_PACKAGES = ("qemu-user-static", "binfmt-support", "arch-test")  # mmdebstrap needs arch-test
# promtool, which checks and unit-tests the alerting rules of monitoring/prometheus/.
MONITORING_PACKAGES = ("prometheus", "systemd-journal-remote")  # promtool, prometheus; the journal collector
# What writes and applies layer deltas (horus_pipeline/bundle/delta.py, robot/delta.py).
DELTA_PACKAGES = ("zstd", "xdelta3")

_apt_updated = False


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PipelineError(f"{what} needs root (network namespaces, mounts, binfmt_misc): run it as root")


def missing_packages(packages: Iterable[str]) -> list[str]:
    """The Debian packages of `packages` that are not installed on this host."""
    missing = []
    for pkg in packages:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], capture_output=True, text=True, check=False
        )
        if proc.stdout.strip() != "installed":
            missing.append(pkg)
    return missing


def ensure_packages(packages: Iterable[str]) -> None:
    """Install the Debian packages that are missing (apt-get update first, once per process)."""
    global _apt_updated
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        raise PipelineError(
            "this host has no dpkg/apt: the pipeline installs its host tools with apt on Debian or Ubuntu; "
            f"install the equivalents of {', '.join(packages)} by hand"
        )
    missing = missing_packages(packages)
    if not missing:
        return
    require_root(f"installing {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with step(f"Installing host packages: {' '.join(missing)}"):
        if not _apt_updated:
            run(["apt-get", "update"], env=env, what="apt-get update")
            _apt_updated = True
        run(
            ["apt-get", "install", "-y", "--no-install-recommends", *missing],
            env=env,
            what=f"apt-get install {' '.join(missing)}",
        )


def ensure_binfmt(arch: Arch) -> None:
    """Make binaries of `arch` run on this host: a binfmt_misc handler for its qemu-user (F and C flags)."""
    if arch.native:
        return
    require_root(f"running {arch.name} binaries under qemu-user")
    mount_binfmt_misc()
    if (BINFMT_DIR / "status").read_text().strip() != "enabled":
        (BINFMT_DIR / "status").write_text("1")
    handler = BINFMT_DIR / arch.qemu
    interpreter = Path(f"/usr/bin/{arch.qemu}-static")
    if not interpreter.exists():
        raise PipelineError(f"{interpreter} is missing: install qemu-user-static (apt-get install qemu-user-static)")
    if handler.exists() and _handler_ok(handler):
        return
    if handler.exists():  # registered without the F or C flag (or disabled): it would fail inside a rootfs
        handler.write_text("-1")
    if shutil.which("update-binfmts"):
        # binfmt-support knows qemu-user-static's handler; it may be imported but not enabled.
        subprocess.run(["update-binfmts", "--enable", arch.qemu], capture_output=True, check=False)
    if not (handler.exists() and _handler_ok(handler)):
        if handler.exists():
            handler.write_text("-1")
        # F: the interpreter works inside the robot's rootfs; C: setuid binaries (sudo) get their
        # owner's credentials, as on the real CPU.
        (BINFMT_DIR / "register").write_text(f":{arch.qemu}:M::{arch.binfmt_magic}:{arch.binfmt_mask}:{interpreter}:FC")
    if not _handler_ok(handler):
        raise PipelineError(
            f"could not register {arch.qemu} in binfmt_misc ({handler}): {arch.name} robots cannot run; "
            "check that the kernel has binfmt_misc and that this is not an unprivileged container"
        )
    info(f"binfmt_misc: {arch.name} binaries run through {interpreter}")


def mount_binfmt_misc() -> None:
    """Mount binfmt_misc if this host (no systemd here to automount it) has not."""
    if not (BINFMT_DIR / "register").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], what="mounting binfmt_misc")


def _handler_ok(handler: Path) -> bool:
    lines = handler.read_text().splitlines()
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    return bool(lines) and lines[0] == "enabled" and "F" in flags and "C" in flags


def ensure_host_tools(arches: Iterable[Arch] = (), extra: Iterable[str] = ()) -> None:
    """Everything needed to build and boot rootfs of `arches` here: apt packages, then binfmt_misc.

    Other steps that run code in a foreign rootfs call this with the image's arch first.
    """
    arches = list(arches)
    foreign = [a for a in arches if not a.native]
    if foreign:  # before apt: binfmt-support's postinst registers handlers only if it is mounted
        require_root("registering qemu-user in binfmt_misc")
        mount_binfmt_misc()
    ensure_packages([*SIM_PACKAGES, *(FOREIGN_PACKAGES if foreign else ()), *extra])
    for arch in foreign:
        ensure_binfmt(arch)
