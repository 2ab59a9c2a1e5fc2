"""Helpers for bundle tests: a local PEP 503 index of real tiny wheels, and a repo that locks them.

The wheels are real (zip, WHEEL, METADATA, RECORD with hashes, entry points, `.data/`
scripts and data); pip downloads them from a file:// index, `installer` installs them.
pip sees only this index (this machine's pip.conf, find-links and constraints are turned
off), and the pipeline's cache is per test, so tests are hermetic and take seconds.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import shutil
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from horus_pipeline.images import ImageSpec, load_image
from horus_pipeline.lock import lock_inputs

X86 = "cp311-cp311-manylinux_2_17_x86_64"
ARM = "cp311-cp311-manylinux_2_17_aarch64"
CORE = "cp310-abi3-manylinux_2_17_x86_64"


@dataclass
class Wheel:
    name: str
    version: str
    tag: str = "py3-none-any"
    files: dict[str, str] = field(default_factory=dict)  # path in the wheel -> text
    entry_points: str = ""
    executable: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-{self.tag}.whl"

    def data(self) -> bytes:
        dist = f"{self.name.replace('-', '_')}-{self.version}"
        info = f"{dist}.dist-info"
        purelib = "true" if self.tag.endswith("-any") else "false"
        files = dict(self.files)
        files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {self.name}\nVersion: {self.version}\n"
        files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: {purelib}\nTag: {self.tag}\n"
        if self.entry_points:
            files[f"{info}/entry_points.txt"] = self.entry_points
        buf = io.BytesIO()
        record = []
        with zipfile.ZipFile(buf, "w") as zf:
            for path, text in files.items():
                zi = zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0))
                zi.external_attr = (0o755 if path in self.executable else 0o644) << 16
                data = text.encode()
                zf.writestr(zi, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{path},sha256={digest},{len(data)}")
            record.append(f"{info}/RECORD,,")
            zf.writestr(zipfile.ZipInfo(f"{info}/RECORD", (2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
        return buf.getvalue()


def fakenum(version: str) -> Wheel:
    return Wheel(
        "fakenum",
        version,
        files={"fakenum/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print('fakenum', VERSION)\n"},
        entry_points="[console_scripts]\nfakenum-cli = fakenum:main\n",
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


class Index:
    """Wheels under root/files, PEP 503 pages with #sha256= under root/simple."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.hashes: dict[tuple[str, str], str] = {}

    @property
    def url(self) -> str:
        return (self.root / "simple").as_uri()

    def add(self, *wheels: Wheel) -> None:
        for wheel in wheels:
            data = wheel.data()
            (self.files / wheel.filename).write_bytes(data)
            self.hashes[(wheel.name, wheel.version)] = hashlib.sha256(data).hexdigest()
        self.write_pages()

    def write_pages(self) -> None:
        shutil.rmtree(self.root / "simple", ignore_errors=True)
        projects: dict[str, list[str]] = {}
        for path in sorted(self.files.glob("*.whl")):
            projects.setdefault(path.name.split("-")[0].replace("_", "-").lower(), []).append(path.name)
        for name, files in projects.items():
            page = self.root / "simple" / name / "index.html"
            page.parent.mkdir(parents=True)
            links = []
            for fn in files:
                digest = hashlib.sha256((self.files / fn).read_bytes()).hexdigest()
                links.append(f'<a href="{html.escape(f"../../files/{fn}#sha256={digest}")}">{fn}</a><br/>')
            page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")


class Repo:
    """A repository with one image (x86_64, CPython 3.11), its app, its lock and a horus_core wheel."""

    def __init__(self, root: Path, index: Index, arch: str = "x86_64") -> None:
        self.root = root
        self.index = index
        self.arch = arch
        self.app = root / "apps" / "fake"
        self.app.mkdir(parents=True, exist_ok=True)
        (self.app / "main.py").write_text("import fakenum\nprint('robot', fakenum.VERSION)\n")
        (self.app / "nodes").mkdir(exist_ok=True)
        (self.app / "nodes" / "__init__.py").write_text("")
        (self.app / "horus.toml").write_text(
            '[package]\nname = "fake"\nversion = "0.1.0"\n\n[dependencies]\n'
            'fakenum = { version = ">=1.0", source = "pypi" }\n'
        )
        (root / "images").mkdir(parents=True, exist_ok=True)
        self.spec_path.write_text(
            textwrap.dedent(
                f"""\
                [target]
                arch = "{arch}"
                python = "3.11"
                [os]
                suite = "bookworm"
                [app]
                dir = "apps/fake"
                [python]
                cpu_only = true
                indexes = []
                [[services]]
                name = "main"
                script = "main.py"
                """
            )
        )
        self.wheels = root / "core-wheels"
        self.wheels.mkdir(exist_ok=True)
        core = Wheel("horus-core", "0.1.0", CORE.replace("x86_64", arch), files={"horus_fake_core.py": "OK = 1\n"})
        (self.wheels / core.filename).write_bytes(core.data())

    @property
    def spec_path(self) -> Path:
        return self.root / "images" / f"fake-{self.arch}.toml"

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
            lines += [f"{name}=={version} \\", f"    --hash=sha256:{self.index.hashes[(name, version)]}"]
        spec.lockfile.parent.mkdir(parents=True, exist_ok=True)
        spec.lockfile.write_text("\n".join(lines) + "\n")
