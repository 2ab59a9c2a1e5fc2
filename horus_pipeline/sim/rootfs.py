"""Base root filesystems of robot images, and running one command inside one without booting it.

A base rootfs is what a freshly flashed robot of an image holds before any deploy: Debian
`os.suite` for the image's CPU with systemd, sshd and the image's Python (python3,
python3-venv), built by mmdebstrap. It is built once per set of inputs (arch, suite, mirror,
package list, mmdebstrap version, recipe version) under `cache_dir("rootfs")`:

    <debian-arch>-<suite>-<key>/root/          the tree: use it read-only (an overlay on top to change it)
    <debian-arch>-<suite>-<key>/packages.txt   `dpkg-query -W` of the tree: what a rebuild changed
    <debian-arch>-<suite>-<key>/rootfs.json    the inputs, the epoch and a digest of the tree

The build is reproducible given the same package versions: mmdebstrap runs with
SOURCE_DATE_EPOCH (it then drops logs, caches and the machine id), the host keys are removed
(every robot generates its own) and no mtime is left newer than the epoch, so two builds from
the same mirror state have the same `digest`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import cache_dir, input_key
from ..console import info, step
from ..determinism import CLEAN_PATH, child_env, sorted_walk, source_date_epoch
from ..errors import PipelineError
from ..proc import CommandError, run
from ..targets import Arch, arch_of_elf
from .prereqs import ensure_binfmt, ensure_host_tools, require_root

if TYPE_CHECKING:
    from ..images import ImageSpec

# Bump when the recipe below changes what a tree contains: it is part of the cache key.
RECIPE_VERSION = 2

# What every robot has, whatever its image adds (`os.packages`): an init, a bus, sshd for
# Ansible, the image's Python with venv (releases are venvs on the system interpreter),
# `ip` and `ps` for the operator, systemd-journal-upload for a central journal (the role's
# horus_robot_journal_upload_url).
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "iproute2",
    "procps",
    "sudo",  # the deploy account becomes root through it, as on a fleet's robots
    "systemd-journal-remote",
    # What rebuilds a layer from a delta (robot/delta.py); a robot without them is sent layers whole.
    "zstd",
    "xdelta3",
)

# Robots carry no manuals, docs or translations (copyright files stay).
_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
)

_runs = itertools.count()


def rootfs_packages(image: ImageSpec) -> list[str]:
    """Every package named to mmdebstrap for this image: the base set, its Python, its extras."""
    py = image.target.python
    return sorted({*BASE_PACKAGES, f"python{py}", f"python{py}-venv", *image.os.packages})


def mmdebstrap_version() -> str:
    out = run(["mmdebstrap", "--version"], what="mmdebstrap --version").stdout.decode().strip()
    return out.removeprefix("mmdebstrap ").strip()


def rootfs_inputs(image: ImageSpec) -> dict[str, object]:
    """What determines a base rootfs; its key is the cache key (ensure_host_tools() first)."""
    return {
        "recipe": RECIPE_VERSION,
        "arch": image.target.arch.debian,
        "suite": image.os.suite,
        "mirror": image.os.mirror,
        "packages": rootfs_packages(image),
        "mmdebstrap": mmdebstrap_version(),
        "epoch": source_date_epoch(),
    }


def ensure_rootfs(image: ImageSpec, *, rebuild: bool = False) -> Path:
    """The cached base rootfs of `image` (its `root/` directory), built first if missing.

    Use it read-only (run_in_rootfs(..., volatile=True), or mount_overlay()). `rebuild`
    builds it again and reports which package versions changed since the previous build.
    """
    require_root("building a robot rootfs")
    arch = image.target.arch
    ensure_host_tools([arch])
    inputs = rootfs_inputs(image)
    entry = cache_dir("rootfs") / f"{arch.debian}-{image.os.suite}-{input_key(inputs)}"
    with _locked(entry.with_name(entry.name + ".lock")):
        if (entry / "rootfs.json").exists() and not rebuild:
            return entry / "root"
        previous = _read_packages(entry / "packages.txt")
        _build(entry, image, inputs)
    if rebuild and previous:
        _report_drift(previous, _read_packages(entry / "packages.txt"))
    return entry / "root"


def rootfs_record(root: Path) -> dict[str, object]:
    """The rootfs.json of a base rootfs: its inputs, epoch, digest, size, build time."""
    data: dict[str, object] = json.loads((root.parent / "rootfs.json").read_text())
    return data


def _build(entry: Path, image: ImageSpec, inputs: Mapping[str, object]) -> None:
    tmp, old = entry.with_name(entry.name + "~"), entry.with_name(entry.name + "~old")
    for stale in (tmp, old):
        if stale.exists():
            _remove_tree(stale)
    tmp.mkdir(parents=True)
    root = tmp / "root"
    epoch = source_date_epoch()
    arch = image.target.arch
    argv: list[str] = [
        "mmdebstrap",
        "--mode=root",
        "--variant=apt",
        f"--architectures={arch.debian}",
        f"--include={','.join(rootfs_packages(image))}",
        *(f"--dpkgopt={opt}" for opt in _DPKG_OPTIONS),
        image.os.suite,
        str(root),
        image.os.mirror,
    ]
    env = child_env({"HOME": "/root", "SOURCE_DATE_EPOCH": str(epoch)}, inherit=False)
    start = time.monotonic()
    with step(f"Building the {arch.debian} Debian {image.os.suite} rootfs for {image.name} (mmdebstrap)"):
        try:
            run(argv, env=env, what=f"mmdebstrap ({arch.debian} {image.os.suite})")
        except CommandError as err:
            _remove_tree(tmp)
            missing = re.findall(r"Unable to locate package (\S+)", str(err))
            if missing:
                raise PipelineError(
                    f"image {image.name}: Debian {image.os.suite} ({arch.debian}) has no package "
                    f"{', '.join(missing)}: fix [os] packages or [target] python in {image.path}"
                ) from err
            raise
        _finish(root, epoch)
        if not (root / f"usr/bin/python{image.target.python}").exists():
            _remove_tree(tmp)
            raise PipelineError(
                f"image {image.name}: the {image.os.suite} rootfs has no "
                f"/usr/bin/python{image.target.python}: fix [target] python or [os] suite in {image.path}"
            )
        packages = run(
            [
                "dpkg-query",
                f"--admindir={root}/var/lib/dpkg",
                "-W",
                "-f=${Package}\\t${Version}\\t${Architecture}\\n",
            ],
            what="dpkg-query of the new rootfs",
        ).stdout.decode()
        (tmp / "packages.txt").write_text("".join(sorted(packages.splitlines(keepends=True))))
        digest, files, size = tree_digest(root)
        record = {
            "image": image.name,
            "inputs": dict(inputs),
            "digest": digest,
            "files": files,
            "bytes": size,
            "build_seconds": round(time.monotonic() - start, 1),
        }
        (tmp / "rootfs.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if entry.exists():  # a rebuild: the old tree goes only once the new one is complete
            entry.rename(old)
        tmp.rename(entry)
        if old.exists():
            _remove_tree(old)
    count = len(packages.splitlines())
    info(f"rootfs {entry.name}: {count} packages, {size / 2**20:.0f} MiB, digest {digest[:16]}")


def _finish(root: Path, epoch: int) -> None:
    """Make the tree the same on every build and safe to copy into many robots."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # one robot, one host key: sim/fleet.py generates them per copy
    (root / "etc/machine-id").write_text("")  # systemd takes the container's id until a copy sets one
    (root / "etc/hostname").write_text("robot\n")
    # mmdebstrap leaves the build host's resolv.conf: not ours to ship, and it differs per host.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/default/locale").write_text("LANG=C.UTF-8\n")  # what pam_env reads at each login
    # apt leaves its download dirs root-owned instead of _apt-owned when its sandbox user could
    # not reach the build directory (a 0700 temporary directory): make them what apt makes.
    passwd = (root / "etc/passwd").read_text().splitlines()
    apt_uid = next((int(line.split(":")[2]) for line in passwd if line.startswith("_apt:")), None)
    for partial in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial"):
        if apt_uid is not None and (root / partial).is_dir():
            os.chown(root / partial, apt_uid, 0)
    clamp_mtimes(root, epoch)


def clamp_mtimes(root: Path, epoch: int) -> None:
    """No mtime under root later than the epoch: a tree made today reads as made at the epoch."""
    for path in sorted_walk(root):
        st = path.lstat()
        if st.st_mtime > epoch:
            os.utime(path, (epoch, epoch), follow_symlinks=False)


def tree_digest(root: Path) -> tuple[str, int, int]:
    """sha256 over every entry's path, type, mode, owner, mtime and content: (digest, files, bytes)."""
    h = hashlib.sha256()
    files = size = 0
    for path in sorted_walk(root):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        h.update(f"{rel}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0{int(st.st_mtime)}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode())
        elif stat.S_ISREG(st.st_mode):
            files += 1
            size += st.st_size
            with path.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            h.update(f"{st.st_rdev}".encode())
        h.update(b"\n")
    return h.hexdigest(), files, size


def _read_packages(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = (line.split("\t") for line in path.read_text().splitlines() if line)
    return {row[0]: row[1] for row in rows}


def _report_drift(old: Mapping[str, str], new: Mapping[str, str]) -> None:
    changes = [f"{p} {old.get(p, '-')} -> {new.get(p, '-')}" for p in sorted({*old, *new}) if old.get(p) != new.get(p)]
    info("rootfs rebuilt: " + ("; ".join(changes) if changes else "same package versions as before"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_tree(path: Path) -> None:
    """rm -rf, after unmounting anything a killed build left mounted inside (only under path)."""
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=False)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path in this mount namespace, deepest first."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    for point in mounts_under(path):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)


def mount_overlay(base: Path, layer: Path, target: Path) -> None:
    """Mount a copy-on-write view of `base` at `target`: writes land in `layer`, base stays as is.

    A simulated robot's disk: ready at once, and the robots of one image share the base's
    page cache. Unmount with unmount_under(target) before removing `layer`; the base must
    not change while it is mounted.
    """
    upper, work = layer / "upper", layer / "work"
    for path in (base, upper, work, target):
        if any(c in str(path) for c in ",:"):
            raise PipelineError(f"cannot use {path} in an overlay mount: no ',' or ':' in the path, please")
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}", str(target)],
        what=f"mounting an overlay of {base} at {target} (needs the overlay kernel module)",
    )


def rootfs_arch(root: Path) -> Arch:
    """The CPU a rootfs is for, read from the ELF header of its /usr/bin/env."""
    env = root / "usr/bin/env"
    try:
        header = env.read_bytes()[:20]
    except OSError as err:
        raise PipelineError(f"{root} is not a Debian rootfs (cannot read {env}: {err.strerror})") from None
    machine = int.from_bytes(header[18:20], "little") if header[:4] == b"\x7fELF" else -1
    arch = arch_of_elf(machine)
    if arch is None:
        raise PipelineError(f"{root}: {env} is not an ELF binary of a supported robot CPU")
    return arch


def run_in_rootfs(
    root: Path,
    argv: Sequence[str],
    *,
    binds: Sequence[tuple[Path, str]] = (),
    ro_binds: Sequence[tuple[Path, str]] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    volatile: bool = False,
    input: bytes | None = None,
    capture: bool = True,
    timeout: float | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run one command inside a rootfs without booting it (foreign CPUs through qemu-user).

    `binds` are (host path, path inside) bind mounts, `ro_binds` the same read-only. The
    command gets /proc, /sys, /dev, a fresh tmpfs on /tmp (put files elsewhere), the host's
    network and DNS, and a clean environment: PATH, LANG=C.UTF-8 and `env`, none of the host's
    variables (no PIP_*). `volatile` leaves the tree untouched: it is mounted read-only
    under a throwaway tmpfs overlay, so the command may write anywhere (bind mount points
    included) and nothing reaches the tree; that is how to use a cached base rootfs, and
    several callers may do so at once. Without it the command changes the tree (use a
    mount_overlay() view). With `capture` (default) the result holds the command's stdout and
    stderr apart; without, they go to ours. Raises CommandError on a non-zero exit, with the
    output tail.
    """
    require_root("running a command in a rootfs (systemd-nspawn)")
    ensure_binfmt(rootfs_arch(root))
    args = [
        "systemd-nspawn",
        "--quiet",
        f"--directory={root}",
        f"--machine=horus-run-{os.getpid()}-{next(_runs)}",  # nspawn's state dirs are per name
        "--register=no",
        "--keep-unit",
        "--pipe",
        "--resolv-conf=copy-host",  # names resolve as on the host (written to the overlay or copy)
        "--timezone=off",
        "--link-journal=no",
        "--setenv=LANG=C.UTF-8",
        f"--setenv=PATH={CLEAN_PATH}",
    ]
    if volatile:
        args.append("--volatile=overlay")
    args += [f"--bind={_bind_arg(src, dst)}" for src, dst in binds]
    args += [f"--bind-ro={_bind_arg(src, dst)}" for src, dst in ro_binds]
    args += [f"--setenv={k}={v}" for k, v in (env or {}).items()]
    if cwd:
        args.append(f"--chdir={cwd}")
    args += ["--", *argv]
    proc = subprocess.run(
        args,
        env=child_env(inherit=False),
        input=input,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
        check=False,
    )
    if capture:
        # nspawn's own complaint when /run is not a tmpfs (it then removes the directory anyway).
        noise = re.compile(rb"^Attempted to remove disk file system under .*\n?", re.M)
        proc.stderr = noise.sub(b"", proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).decode(errors="replace").splitlines()[-30:]) if capture else ""
        raise CommandError(
            f"{what or argv[0]} failed in {root} (exit {proc.returncode}): {shlex.join(argv)}"
            + (f"\n{tail}" if tail else "")
        )
    return proc


def _bind_arg(src: Path, dst: str) -> str:
    if ":" in str(src) or ":" in dst:
        raise PipelineError(f"cannot bind {src} to {dst}: systemd-nspawn takes no ':' in bind paths")
    return f"{Path(src).resolve()}:{dst}"
