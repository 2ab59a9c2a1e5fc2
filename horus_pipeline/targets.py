"""The one table of robot CPUs and the one table of Debian releases: every stage that cares reads them.

A target is (CPU arch, libc floor, Python minor). The arch row fixes how we
compile (Zig triple and baseline CPU), which wheel tag the native core carries,
the Debian architecture of the robot's rootfs, how this host runs its binaries
(qemu-user through binfmt_misc), how long a simulated robot of it may take to
boot, and the PEP 508 marker environment of a robot of that kind. The Debian
release of an image fixes its Python and glibc.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from .errors import PipelineError

# glibc 2.17 is the manylinux2014 floor: the native core links against nothing
# newer, so one wheel serves every robot from CentOS-7-era boards to Debian 12.
LIBC_FLOOR = (2, 17)
# The native core uses the Limited API of CPython 3.10: one abi3 wheel per arch serves
# every later CPython (horus_core/build_backend/horus_build.py builds with the same tag).
CORE_ABI_TAG = "cp310-abi3"


class UnknownTargetError(PipelineError, ValueError):
    """Raised for an arch that is not in the table; the message lists the table."""


@dataclass(frozen=True)
class Arch:
    """One robot CPU family, as every tool spells it."""

    name: str  # `uname -m`, PEP 508 platform_machine
    debian: str  # dpkg architecture of the robot's rootfs
    zig_cpu: str  # `-mcpu=`: baseline, so no wheel carries the build machine's extensions
    elf_machine: int  # e_machine of its ELF binaries: tells a rootfs's CPU from its /usr/bin/env
    # binfmt_misc handler running it on another host: qemu-user binary (also the handler's
    # name), and the ELF header magic and mask it matches (those of qemu's qemu-binfmt-conf.sh).
    qemu: str
    binfmt_magic: str
    binfmt_mask: str
    # Seconds from `systemd-nspawn --boot` to systemd `running`, with room for a loaded CI
    # machine. Measured on a 2-core host: amd64 1-2 s (20 at once: 4-5 s), arm64 (every
    # binary under qemu-user) 2-5 s.
    boot_timeout: float

    @property
    def native(self) -> bool:
        """This machine runs its binaries without emulation."""
        return self.name == platform.machine()

    @property
    def zig_triple(self) -> str:
        return f"{self.name}-linux-gnu.{LIBC_FLOOR[0]}.{LIBC_FLOOR[1]}"

    @property
    def core_platform_tag(self) -> str:
        """Wheel platform tag of the cross-built native core."""
        return f"manylinux_{LIBC_FLOOR[0]}_{LIBC_FLOOR[1]}_{self.name}"

    @property
    def core_wheel_tag(self) -> str:
        """`python-abi-platform` tag of the cross-built native core's wheel."""
        return f"{CORE_ABI_TAG}-{self.core_platform_tag}"

    def platform_tags(self, glibc: tuple[int, int]) -> list[str]:
        """Platform tags a robot with this glibc accepts, most specific first."""
        major, newest = glibc
        tags = [f"manylinux_{major}_{minor}_{self.name}" for minor in range(newest, -1, -1)]
        legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
        for (lmaj, lmin), alias in legacy.items():
            if (lmaj, lmin) <= glibc:
                tags.insert(tags.index(f"manylinux_{lmaj}_{lmin}_{self.name}") + 1, f"{alias}_{self.name}")
        return [*tags, f"linux_{self.name}"]

    def marker_environment(self, python: str, full: str | None = None) -> dict[str, str]:
        """PEP 508 marker environment of a Linux robot of this arch running CPython `python` (`full`: X.Y.Z)."""
        full = full or f"{python}.0"
        return {
            "implementation_name": "cpython",
            "implementation_version": full,
            "os_name": "posix",
            "platform_machine": self.name,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": full,
            "python_version": python,
            "sys_platform": "linux",
        }


ARCHES: dict[str, Arch] = {
    "x86_64": Arch(
        name="x86_64",
        debian="amd64",
        zig_cpu="baseline",
        elf_machine=0x3E,
        qemu="qemu-x86_64",
        binfmt_magic=r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
        binfmt_mask=r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        boot_timeout=120.0,
    ),
    "aarch64": Arch(
        name="aarch64",
        debian="arm64",
        zig_cpu="baseline",
        elf_machine=0xB7,
        qemu="qemu-aarch64",
        binfmt_magic=r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        binfmt_mask=r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        boot_timeout=300.0,
    ),
}

# Other spellings people type for the same CPUs.
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def arch_of_elf(machine: int) -> Arch | None:
    """The arch whose ELF binaries carry this e_machine, None for a CPU robots do not have."""
    return next((a for a in ARCHES.values() if a.elf_machine == machine), None)


def get_arch(name: str) -> Arch:
    """Look up an arch by `uname -m` or Debian name; unknown names list the supported ones."""
    key = _ALIASES.get(name, name)
    try:
        return ARCHES[key]
    except KeyError:
        supported = ", ".join(f"{a.name} ({a.debian})" for a in ARCHES.values())
        raise UnknownTargetError(f"unknown robot arch {name!r}: supported arches are {supported}") from None


@dataclass(frozen=True)
class Target:
    """What a robot image runs on: arch, glibc of its OS, CPython minor."""

    arch: Arch
    python: str  # "3.11"
    glibc: tuple[int, int]  # of the robot's OS, e.g. (2, 36) for Debian 12
    python_full: str | None = None  # "3.11.2": what `python_full_version` markers see on the robot

    @property
    def python_tag(self) -> str:
        return "cp" + self.python.replace(".", "")

    def marker_environment(self) -> dict[str, str]:
        return self.arch.marker_environment(self.python, self.python_full)

    def wheel_tags(self) -> list[str]:
        """Every `python-abi-platform` tag this robot's interpreter accepts, best first."""
        minor = int(self.python.split(".")[1])
        plats = self.arch.platform_tags(self.glibc)
        py = self.python_tag
        tags = [f"{py}-{py}-{p}" for p in plats]
        tags += [f"cp3{m}-abi3-{p}" for m in range(minor, 1, -1) for p in plats]
        tags += [f"{py}-none-{p}" for p in plats]
        # Platform wheels with no CPython ABI, which pip accepts too (nvidia-*, cmake: py3-none-<plat>).
        pure = [f"py3{minor}", "py3", *(f"py3{m}" for m in range(minor - 1, -1, -1))]
        tags += [f"{v}-none-{p}" for v in pure for p in plats]
        tags += [f"{py}-none-any", "py3-none-any"]
        tags += [f"py3{m}-none-any" for m in range(minor, -1, -1)]
        return tags

    def describe(self) -> str:
        return f"{self.arch.name}, CPython {self.python}, glibc {self.glibc[0]}.{self.glibc[1]}"


@dataclass(frozen=True)
class DebianRelease:
    """What a robot of one Debian release runs: its system Python and its glibc."""

    suite: str
    # Robots run the system interpreter: a venv cannot change its minor, so an image's
    # `target.python` must be this.
    python: str
    # What `python_full_version` markers see: Debian ships one upstream release per suite
    # and patches it without a version bump.
    python_full: str
    glibc: tuple[int, int]  # the rootfs and the wheel tags agree on it

    def target(self, arch: Arch) -> Target:
        return Target(arch=arch, python=self.python, glibc=self.glibc, python_full=self.python_full)


DEBIAN_RELEASES: dict[str, DebianRelease] = {
    "bookworm": DebianRelease(suite="bookworm", python="3.11", python_full="3.11.2", glibc=(2, 36)),
    "trixie": DebianRelease(suite="trixie", python="3.13", python_full="3.13.5", glibc=(2, 41)),
}
