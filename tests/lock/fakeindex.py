"""A local PEP 503 index of fake wheels that imitate torch's CPU/CUDA split, built per test.

    torch 9.0.0       cp311 manylinux_2_28 x86_64 and aarch64 wheels whose metadata pulls
                      nvidia-cublas-cu12 and triton behind `platform_machine == "x86_64"`
                      (as PyPI's torch does)
    torch 9.0.0+cpu   cp311 manylinux_2_28 x86_64 wheel with no dependencies (the CPU index's build)
    nvidia-cublas-cu12, triton   x86_64-only wheels
    fakenum 1.0, 1.1  pure-Python wheels, for upgrades
Each link carries `#sha256=` and PEP 658 metadata (`data-core-metadata`), as PyPI and mirrors do.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

X86 = "cp311-cp311-manylinux_2_28_x86_64"
ARM = "cp311-cp311-manylinux_2_28_aarch64"
CUDA_DEPS = [
    'nvidia-cublas-cu12==1.0; platform_system == "Linux" and platform_machine == "x86_64"',
    'triton==1.0; platform_system == "Linux" and platform_machine == "x86_64"',
]


@dataclass
class Dist:
    name: str
    version: str
    tag: str
    requires: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # extra files in the wheel: path -> text

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-{self.tag}.whl"

    def metadata(self) -> str:
        lines = ["Metadata-Version: 2.1", f"Name: {self.name}", f"Version: {self.version}"]
        lines += [f"Requires-Dist: {r}" for r in self.requires]
        return "\n".join(lines) + "\n"


def wheel_bytes(dist: Dist) -> bytes:
    info = f"{dist.name.replace('-', '_')}-{dist.version}.dist-info"
    files = {
        f"{info}/METADATA": dist.metadata(),
        f"{info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: fakeindex\nRoot-Is-Purelib: false\nTag: {dist.tag}\n"),
        **dist.files,
    }
    record = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text in files.items():
            data = text.encode()
            zf.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(zipfile.ZipInfo(f"{info}/RECORD", (2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
    return buf.getvalue()


def default_dists() -> list[Dist]:
    return [
        Dist("torch", "9.0.0", X86, CUDA_DEPS),
        Dist("torch", "9.0.0", ARM, CUDA_DEPS),
        Dist("torch", "9.0.0+cpu", X86),
        Dist("nvidia-cublas-cu12", "1.0", "py3-none-manylinux_2_17_x86_64"),
        Dist("triton", "1.0", "cp311-cp311-manylinux_2_17_x86_64", ["nvidia-cuda-runtime-cu12==1.0"]),
        Dist("nvidia-cuda-runtime-cu12", "1.0", "py3-none-manylinux_2_17_x86_64"),
        Dist("fakenum", "1.0", "py3-none-any", files={"fakenum/__init__.py": "VERSION = '1.0'\n"}),
    ]


class FakeIndex:
    """Wheels under `root/files`, pages under `root/simple`; `url` is the file:// simple index."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.sha256: dict[str, str] = {}  # wheel filename -> hex digest

    @property
    def url(self) -> str:
        return (self.root / "simple").as_uri()

    def add(self, *dists: Dist) -> None:
        for dist in dists:
            data = wheel_bytes(dist)
            (self.files / dist.filename).write_bytes(data)
            (self.files / (dist.filename + ".metadata")).write_text(dist.metadata())
            self.sha256[dist.filename] = hashlib.sha256(data).hexdigest()
        self.write_pages()

    def remove(self, dist: Dist) -> None:
        """Take a file off the index (its page link goes too)."""
        (self.files / dist.filename).unlink()
        del self.sha256[dist.filename]
        self.write_pages()

    def hash_of(self, dist: Dist) -> str:
        return "sha256:" + self.sha256[dist.filename]

    def write_pages(self) -> None:
        projects: dict[str, list[str]] = {}
        for wheel in sorted(self.sha256):
            name = wheel.split("-")[0].replace("_", "-").lower()
            projects.setdefault(name, []).append(wheel)
        for name, wheels in projects.items():
            page = self.root / "simple" / name / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            links = []
            for wheel in wheels:
                meta = hashlib.sha256((self.files / (wheel + ".metadata")).read_bytes()).hexdigest()
                href = html.escape(f"../../files/{wheel}#sha256={self.sha256[wheel]}")
                links.append(f'<a href="{href}" data-core-metadata="sha256={meta}">{wheel}</a><br/>')
            page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
