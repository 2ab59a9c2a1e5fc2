"""A local PEP 503 index of generated wheels, pip isolated to it, and a repo with one app and one image.

The wheels are real (zip, WHEEL, METADATA, RECORD with hashes, entry points, `.data/`
scripts and data); each index link carries `#sha256=` and PEP 658 metadata
(`data-core-metadata`), as PyPI and mirrors do. With `isolate_pip` pip sees only that
index (this machine's pip.conf, find-links and constraints are turned off) and the
pipeline's cache is per test, so tests are hermetic and take seconds.

Used by tests/lock (wheels imitating torch's CPU/CUDA split) and tests/bundle (tiny wheels
that install); importable from any test directory, as horus_testing.py is. `serving` puts an
index (or any handler) on an HTTP server on loopback, for what pip and the lock fetch over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import http.server
import io
import json
import os
import shutil
import textwrap
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest

from horus_pipeline.images import ImageSpec

ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass
class Wheel:
    name: str
    version: str
    tag: str = "py3-none-any"
    requires: list[str] = field(default_factory=list)  # Requires-Dist lines
    files: dict[str, str] = field(default_factory=dict)  # path in the wheel -> text
    entry_points: str = ""
    executable: tuple[str, ...] = ()
    license: str = ""  # License-Expression (PEP 639)
    project_urls: dict[str, str] = field(default_factory=dict)  # Project-URL: label -> URL
    vulnerabilities: list[str] = field(default_factory=list)  # advisory ids the JSON API lists for it

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-{self.tag}.whl"

    def metadata(self) -> str:
        lines = ["Metadata-Version: 2.1", f"Name: {self.name}", f"Version: {self.version}"]
        lines += [f"Requires-Dist: {r}" for r in self.requires]
        lines += [f"License-Expression: {self.license}"] if self.license else []
        lines += [f"Project-URL: {label}, {url}" for label, url in self.project_urls.items()]
        return "\n".join(lines) + "\n"

    def data(self) -> bytes:
        info = f"{self.name.replace('-', '_')}-{self.version}.dist-info"
        purelib = "true" if self.tag.endswith("-any") else "false"
        files = dict(self.files)
        files[f"{info}/METADATA"] = self.metadata()
        files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: {purelib}\nTag: {self.tag}\n"
        if self.entry_points:
            files[f"{info}/entry_points.txt"] = self.entry_points
        buf = io.BytesIO()
        record = []
        with zipfile.ZipFile(buf, "w") as zf:
            for path, text in files.items():
                zi = zipfile.ZipInfo(path, ZIP_DATE)
                zi.external_attr = (0o755 if path in self.executable else 0o644) << 16
                data = text.encode()
                zf.writestr(zi, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{path},sha256={digest},{len(data)}")
            record.append(f"{info}/RECORD,,")
            zf.writestr(zipfile.ZipInfo(f"{info}/RECORD", ZIP_DATE), "\n".join(record) + "\n")
        return buf.getvalue()


class Index:
    """Wheels (and their PEP 658 `.metadata`) under `root/files`, pages under `root/simple`; `url` is the index."""

    def __init__(self, root: Path, core_metadata: bool = True, json_api: bool = True) -> None:
        self.root = root
        self.core_metadata = core_metadata  # False: no PEP 658 files, as many proxies serve PyPI
        self.json_api = json_api  # PyPI's JSON API beside the index (root/pypi/<name>/<version>/json)
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.wheels: dict[str, Wheel] = {}  # wheel filename -> wheel, for every file on the index
        self.sha256: dict[str, str] = {}  # wheel filename -> hex digest

    @property
    def url(self) -> str:
        return (self.root / "simple").as_uri()

    def add(self, *wheels: Wheel) -> None:
        for wheel in wheels:
            data = wheel.data()
            (self.files / wheel.filename).write_bytes(data)
            (self.files / (wheel.filename + ".metadata")).write_text(wheel.metadata())
            self.wheels[wheel.filename] = wheel
            self.sha256[wheel.filename] = hashlib.sha256(data).hexdigest()
        self.write_pages()

    def remove(self, wheel: Wheel) -> None:
        """Take a file off the index (its page link goes too)."""
        (self.files / wheel.filename).unlink()
        (self.files / (wheel.filename + ".metadata")).unlink()
        del self.wheels[wheel.filename], self.sha256[wheel.filename]
        self.write_pages()

    def hash_of(self, wheel: Wheel) -> str:
        """The wheel's hash as a lockfile writes it: `sha256:<hex>`."""
        return "sha256:" + self.sha256[wheel.filename]

    def sha256_of(self, name: str, version: str) -> str:
        """Hex sha256 of the one wheel of name==version on the index."""
        (digest,) = [self.sha256[fn] for fn, w in self.wheels.items() if (w.name, w.version) == (name, version)]
        return digest

    def write_pages(self) -> None:
        shutil.rmtree(self.root / "simple", ignore_errors=True)
        shutil.rmtree(self.root / "pypi", ignore_errors=True)
        for wheel in self.wheels.values() if self.json_api else ():
            doc = {
                "info": {"name": wheel.name, "version": wheel.version, "project_urls": wheel.project_urls},
                "vulnerabilities": [{"id": v, "fixed_in": []} for v in wheel.vulnerabilities],
            }
            page = self.root / "pypi" / wheel.name / wheel.version / "json"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(json.dumps(doc))
        projects: dict[str, list[str]] = {}
        for filename in sorted(self.wheels):
            projects.setdefault(filename.split("-")[0].replace("_", "-").lower(), []).append(filename)
        for name, filenames in projects.items():
            page = self.root / "simple" / name / "index.html"
            page.parent.mkdir(parents=True)
            links = []
            for fn in filenames:
                meta = hashlib.sha256(self.wheels[fn].metadata().encode()).hexdigest()
                href = html.escape(f"../../files/{fn}#sha256={self.sha256[fn]}")
                attr = f' data-core-metadata="sha256={meta}"' if self.core_metadata else ""
                links.append(f'<a href="{href}"{attr}>{fn}</a><br/>')
            page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")


def isolate_pip(monkeypatch: pytest.MonkeyPatch, index: Index, scratch: Path) -> None:
    """Make `index` pip's only source (no pip.conf, no PIP_* of this machine), with pip's and the
    pipeline's caches under `scratch`."""
    for var in list(os.environ):
        if var.startswith("PIP_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.setenv("PIP_CACHE_DIR", str(scratch / "pip-cache"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("HORUS_CACHE", str(scratch / "horus-cache"))


def require_lock_tools() -> None:
    """Skip (fail under CI=true) unless the lock tools of lockfiles/tools.txt are installed here."""
    from horus_testing import require

    from horus_pipeline.lock.driver import TESTED

    found = {name: _version(name) for name in TESTED}
    require(found == TESTED, f"the lock tools of lockfiles/tools.txt ({TESTED}) are not installed here: {found}")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


APP_DIR = "apps/fake"
MakeImage = Callable[..., ImageSpec]  # the lock tests' make_image fixture: write_repo's arguments but root


def write_repo(
    root: Path,
    image: str = "fake-amd64",
    arch: str = "x86_64",
    deps: Mapping[str, str] | None = None,
    extras: Sequence[str] = (),
    cpu_only: bool = True,
    app_files: Mapping[str, str] | None = None,
) -> Path:
    """Write a repo under `root`: the app `fake` (apps/fake, its horus.toml depending on `deps` from
    PyPI, and `app_files`, by default a main.py) and the image spec `images/<image>.toml` that runs
    it on `arch`. Return the spec's path; writing again overwrites."""
    app = root / APP_DIR
    for rel, text in (app_files or {"main.py": "print('robot')\n"}).items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    dep_lines = "".join(f'{pkg} = {{ version = "{ver}", source = "pypi" }}\n' for pkg, ver in (deps or {}).items())
    (app / "horus.toml").write_text(f'[package]\nname = "fake"\nversion = "0.1.0"\n\n[dependencies]\n{dep_lines}')
    spec = root / "images" / f"{image}.toml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        textwrap.dedent(
            f"""\
            [target]
            arch = "{arch}"
            python = "3.11"
            [os]
            suite = "bookworm"
            [app]
            dir = "{APP_DIR}"
            [python]
            cpu_only = {json.dumps(cpu_only)}
            indexes = []
            extras = {json.dumps(list(extras))}
            [[services]]
            name = "main"
            script = "main.py"
            """
        )
    )
    return spec


@contextlib.contextmanager
def serving(handler: Callable[..., http.server.BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    """An HTTP server on loopback (on `port`, else a free one) answering with `handler`, in a thread;
    yields its base URL. Stopped, and its port closed, on leaving."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
