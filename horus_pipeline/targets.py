"""The one table of robot CPUs: every stage that cares about the target reads it.

A target is (CPU arch, libc floor, Python minor). The arch row fixes how we
compile (Zig triple and baseline CPU), which wheel platform tag the native core
carries, the Debian architecture of the robot's rootfs, and the PEP 508 marker
environment of a robot of that kind. The Python minor comes from the image spec.
"""

from __future__ import annotations

from dataclasses import dataclass

# glibc 2.17 is the manylinux2014 floor: the native core links against nothing
# newer, so one wheel serves every robot from CentOS-7-era boards to Debian 12.
LIBC_FLOOR = (2, 17)


class UnknownTargetError(ValueError):
    """Raised for an arch that is not in the table; the message lists the table."""


@dataclass(frozen=True)
class Arch:
    """One robot CPU family, as every tool spells it."""

    name: str  # `uname -m`, PEP 508 platform_machine
    debian: str  # dpkg architecture of the robot's rootfs
    zig_cpu: str  # `-mcpu=`: baseline, so no wheel carries the build machine's extensions
    qemu: str | None  # qemu-user binary that runs it on an x86_64 host (None: native)

    @property
    def zig_triple(self) -> str:
        return f"{self.name}-linux-gnu.{LIBC_FLOOR[0]}.{LIBC_FLOOR[1]}"

    @property
    def core_platform_tag(self) -> str:
        """Wheel platform tag of the cross-built native core."""
        return f"manylinux_{LIBC_FLOOR[0]}_{LIBC_FLOOR[1]}_{self.name}"

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
    "x86_64": Arch(name="x86_64", debian="amd64", zig_cpu="baseline", qemu=None),
    "aarch64": Arch(name="aarch64", debian="arm64", zig_cpu="baseline", qemu="qemu-aarch64"),
}

# Other spellings people type for the same CPUs.
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


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


# glibc of the Debian releases robots run; the rootfs and the wheel tags agree on it.
DEBIAN_GLIBC = {"bookworm": (2, 36), "trixie": (2, 41)}
# Their python3 (Debian ships one upstream release per suite and patches it without a version bump).
DEBIAN_PYTHON_FULL = {"bookworm": "3.11.2", "trixie": "3.13.5"}
