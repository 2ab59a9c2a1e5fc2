"""Helpers for bundle tests: the tiny wheels they serve (on a pypi_testing.Index), and a repo that locks them.

The wheels install (entry points, `.data/` scripts and data, an x86_64-only extension, two
packages that write the same file, an aarch64-only wheel); pip downloads them from the
file:// index, `installer` installs them.
"""

from __future__ import annotations

from pathlib import Path

from pypi_testing import APP_DIR, Index, Wheel, write_repo

from horus_pipeline.images import ImageSpec, load_image
from horus_pipeline.lock.compile import lock_inputs

X86 = "cp311-cp311-manylinux_2_17_x86_64"
ARM = "cp311-cp311-manylinux_2_17_aarch64"
CORE = "cp310-abi3-manylinux_2_17_x86_64"


def fakenum(version: str) -> Wheel:
    return Wheel(
        "fakenum",
        version,
        files={"fakenum/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print('fakenum', VERSION)\n"},
        entry_points="[console_scripts]\nfakenum-cli = fakenum:main\n",
        license="MIT" if version == "1.0" else "MIT OR Apache-2.0",
    )


def default_wheels() -> list[Wheel]:
    return [
        fakenum("1.0"),
        fakenum("1.1"),
        Wheel(
            "fakeext",
            "2.0",
            X86,
            files={
                "fakeext/__init__.py": "NAME = 'fakeext'\n",
                "fakeext/_native.cpython-311-x86_64-linux-gnu.so": "not really ELF\n",
                "fakeext-2.0.data/scripts/fakeext-tool": "#!python\nimport fakeext\nprint('tool', fakeext.NAME)\n",
                "fakeext-2.0.data/data/share/fakeext/readme.txt": "data file\n",
            },
            executable=("fakeext-2.0.data/scripts/fakeext-tool",),
        ),
        Wheel("clash", "1.0", files={"fakenum/__init__.py": "CLASH = True\n"}),
        Wheel("armonly", "1.0", ARM, files={"armonly/__init__.py": ""}),
    ]


class Repo:
    """A repository with one image (x86_64, CPython 3.11), its app, its lock and a horus_core wheel."""

    def __init__(self, root: Path, index: Index, arch: str = "x86_64") -> None:
        self.root = root
        self.index = index
        self.arch = arch
        self.spec_path = write_repo(
            root,
            image=f"fake-{arch}",
            arch=arch,
            deps={"fakenum": ">=1.0"},
            app_files={"main.py": "import fakenum\nprint('robot', fakenum.VERSION)\n", "nodes/__init__.py": ""},
        )
        self.app = root / APP_DIR
        self.wheels = root / "core-wheels"
        self.wheels.mkdir(exist_ok=True)
        core = Wheel("horus-core", "0.1.0", CORE.replace("x86_64", arch), files={"horus_fake_core.py": "OK = 1\n"})
        (self.wheels / core.filename).write_bytes(core.data())

    @property
    def spec(self) -> ImageSpec:
        return load_image(self.spec_path)

    @property
    def out(self) -> Path:
        return self.root / "dist" / "bundles"

    def lock(self, **pins: str) -> None:
        """Write lockfiles/<image>.txt pinning these packages (name=version), fresh for the current inputs."""
        spec = self.spec
        lines = [
            f"# horus-lock: image = {spec.name}",
            f"# horus-lock: target = {spec.target.describe()}",
            f"# horus-lock: inputs = {lock_inputs(spec).digest()}",
        ]
        for name, version in sorted(pins.items()):
            lines += [f"{name}=={version} \\", f"    --hash=sha256:{self.index.sha256_of(name, version)}"]
        spec.lockfile.parent.mkdir(parents=True, exist_ok=True)
        spec.lockfile.write_text("\n".join(lines) + "\n")
