"""`nox -s upgrade`: new pins land only when the tests pass; otherwise the committed locks stay byte for byte."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from pypi_testing import Index, MakeImage, Wheel

from horus_pipeline.lock.compile import lock_image
from horus_pipeline.lock.horus_lock import write_horus_lock
from horus_pipeline.upgrade import main

ROBOT_TEST = """\
import fakenum

def test_robot_still_works():
    assert fakenum.works(), f"fakenum {fakenum.VERSION} broke the robot"
"""


def fakenum(version: str, works: bool) -> Wheel:
    module = f"VERSION = {version!r}\n\ndef works():\n    return {works}\n"
    return Wheel("fakenum", version, "py3-none-any", files={"fakenum/__init__.py": module})


@pytest.fixture
def committed(fake_index: Index, make_image: MakeImage) -> tuple[Path, Path, Path]:
    """A repo with a committed lock (fakenum 1.0), horus.lock and a robot test; returns their paths."""
    fake_index.add(fakenum("1.0", works=True))
    spec = make_image("fake-amd64", deps={"fakenum": ">=1"})
    lock_image(spec)
    write_horus_lock(spec.app, [spec])
    tests = spec.path.parent.parent / "tests"
    tests.mkdir()
    (tests / "test_robot.py").write_text(ROBOT_TEST)
    return spec.path, spec.lockfile, spec.app / "horus.lock"


def upgrade(spec: Path, summary: Path, *extra: str) -> int:
    return main([str(spec), "--tests", "tests -q", "--no-build", "--no-robots", "--summary", str(summary), *extra])


def test_passing_upgrade_writes_new_pins_and_a_summary(
    fake_index: Index, committed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    spec, lockfile, horus_lock = committed
    fake_index.add(fakenum("1.1", works=True))
    summary = tmp_path / "summary.md"
    assert upgrade(spec, summary) == 0
    assert "fakenum==1.1 \\" in lockfile.read_text()
    assert 'name = "fakenum"\nversion = "1.1"' in horus_lock.read_text()
    text = summary.read_text()
    assert "## fake-amd64" in text and "| package | old | new |" in text
    assert "| fakenum | 1.0 | 1.1 |" in text


def test_failing_upgrade_leaves_committed_locks_untouched(
    fake_index: Index, committed: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, lockfile, horus_lock = committed
    before = lockfile.read_bytes(), horus_lock.read_bytes()
    fake_index.add(fakenum("2.0", works=False))
    summary = tmp_path / "summary.md"
    assert upgrade(spec, summary) != 0
    assert (lockfile.read_bytes(), horus_lock.read_bytes()) == before
    assert not summary.exists()
    err = capsys.readouterr().err
    assert "every changed package fails the checks on its own: fakenum" in err
    assert "fakenum 2.0 broke the robot" in err  # pytest's own words, for whoever reads the CI log
    assert "committed lockfiles are unchanged" in err


def test_upgrading_one_package_keeps_the_others(fake_index: Index, make_image: MakeImage, tmp_path: Path) -> None:
    fake_index.add(fakenum("1.0", works=True), Wheel("otherpkg", "1.0", "py3-none-any"))
    spec = make_image("fake-amd64", deps={"fakenum": ">=1", "otherpkg": ">=1"})
    lock_image(spec)
    (spec.path.parent.parent / "tests").mkdir()
    (spec.path.parent.parent / "tests" / "test_robot.py").write_text(ROBOT_TEST)
    fake_index.add(fakenum("1.1", works=True), Wheel("otherpkg", "1.1", "py3-none-any"))
    summary = tmp_path / "summary.md"
    assert upgrade(spec.path, summary, "--package", "otherpkg") == 0
    text = spec.lockfile.read_text()
    assert "otherpkg==1.1" in text and "fakenum==1.0" in text
    assert "| otherpkg | 1.0 | 1.1 |" in summary.read_text()


@pytest.fixture
def two_packages(fake_index: Index, make_image: MakeImage) -> Path:
    """fakenum and otherpkg locked at 1.0, a robot test that needs fakenum to work."""
    fake_index.add(fakenum("1.0", works=True), Wheel("otherpkg", "1.0", "py3-none-any"))
    spec = make_image("fake-amd64", deps={"fakenum": ">=1", "otherpkg": ">=1"})
    lock_image(spec)
    write_horus_lock(spec.app, [spec])
    (spec.path.parent.parent / "tests").mkdir()
    (spec.path.parent.parent / "tests" / "test_robot.py").write_text(ROBOT_TEST)
    return spec.path


def test_the_breaking_package_is_held_back_and_the_rest_kept(
    fake_index: Index, two_packages: Path, tmp_path: Path
) -> None:
    fake_index.add(fakenum("2.0", works=False), Wheel("otherpkg", "1.1", "py3-none-any"))
    summary = tmp_path / "summary.md"
    assert upgrade(two_packages, summary) == 0
    lock = (two_packages.parent.parent / "lockfiles" / "fake-amd64.txt").read_text()
    assert "otherpkg==1.1" in lock and "fakenum==1.0" in lock
    text = summary.read_text()
    assert "| otherpkg | 1.0 | 1.1 |" in text and "| fakenum |" not in text
    assert "### fakenum" in text and "Wanted fake-amd64: fakenum 2.0" in text
    assert "fakenum 2.0 broke the robot" in text  # the failing check's own output
    report = json.loads(summary.with_suffix(".json").read_text())
    assert report["kept"]["fake-amd64"] == [{"package": "otherpkg", "old": "1.0", "new": "1.1"}]
    assert [h["packages"] for h in report["held_back"]] == [["fakenum"]]
    assert report["trials"] == 3  # everything, fakenum alone, otherpkg alone (the kept subset: tried already)


def test_a_package_moves_with_the_upgrade_that_needs_it(
    fake_index: Index, make_image: MakeImage, tmp_path: Path
) -> None:
    fake_index.add(fakenum("1.0", works=True), Wheel("plugin", "1.0", "py3-none-any", requires=["fakenum>=1"]))
    fake_index.add(Wheel("otherpkg", "1.0", "py3-none-any"))
    spec = make_image("fake-amd64", deps={"plugin": ">=1", "otherpkg": ">=1"})
    lock_image(spec)
    (spec.path.parent.parent / "tests").mkdir()
    (spec.path.parent.parent / "tests" / "test_robot.py").write_text(ROBOT_TEST)
    # plugin 2.0 needs the broken fakenum 2.0: the two are one change, held back together.
    fake_index.add(fakenum("2.0", works=False), Wheel("plugin", "2.0", "py3-none-any", requires=["fakenum>=2"]))
    fake_index.add(Wheel("otherpkg", "1.1", "py3-none-any"))
    summary = tmp_path / "summary.md"
    assert upgrade(spec.path, summary) == 0
    lock = spec.lockfile.read_text()
    assert "otherpkg==1.1" in lock and "plugin==1.0" in lock and "fakenum==1.0" in lock
    assert "### fakenum + plugin" in summary.read_text()


def test_no_bisect_keeps_nothing_when_anything_fails(
    fake_index: Index, two_packages: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lockfile = two_packages.parent.parent / "lockfiles" / "fake-amd64.txt"
    before = lockfile.read_bytes()
    fake_index.add(fakenum("2.0", works=False), Wheel("otherpkg", "1.1", "py3-none-any"))
    assert upgrade(two_packages, tmp_path / "summary.md", "--no-bisect") != 0
    assert lockfile.read_bytes() == before
    assert "pytest tests -q against fake-amd64's new lock failed" in capsys.readouterr().err


def test_summary_links_each_new_version_to_its_changelog(fake_index: Index, two_packages: Path, tmp_path: Path) -> None:
    changes = {"Homepage": "https://example.org/otherpkg", "Changelog": "https://example.org/otherpkg/changes"}
    fake_index.add(Wheel("otherpkg", "1.1", "py3-none-any", project_urls=changes))
    summary = tmp_path / "summary.md"
    assert upgrade(two_packages, summary) == 0
    assert "| otherpkg | 1.0 | 1.1 | [Changelog](https://example.org/otherpkg/changes) |" in summary.read_text()
    report = json.loads(summary.with_suffix(".json").read_text())
    assert report["links"] == {"otherpkg==1.1": "https://example.org/otherpkg/changes"}


def test_only_security_upgrades_only_the_vulnerable_pins(fake_index: Index, two_packages: Path, tmp_path: Path) -> None:
    fake_index.add(Wheel("otherpkg", "1.0", "py3-none-any", vulnerabilities=["PYSEC-2026-1"]))
    fake_index.add(fakenum("1.1", works=True), Wheel("otherpkg", "1.1", "py3-none-any"))
    summary = tmp_path / "summary.md"
    assert upgrade(two_packages, summary, "--only-security") == 0
    lock = (two_packages.parent.parent / "lockfiles" / "fake-amd64.txt").read_text()
    assert "otherpkg==1.1" in lock and "fakenum==1.0" in lock
    assert "Only packages with known vulnerabilities were upgraded (otherpkg: PYSEC-2026-1)" in summary.read_text()


def test_only_security_says_when_the_index_has_no_vulnerability_data(
    fake_index: Index, two_packages: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lockfile = two_packages.parent.parent / "lockfiles" / "fake-amd64.txt"
    before = lockfile.read_bytes()
    fake_index.json_api = False  # a plain PEP 503 mirror
    fake_index.add(fakenum("1.1", works=True))
    assert upgrade(two_packages, tmp_path / "summary.md", "--only-security") != 0
    assert "--only-security cannot tell which upgrades fix vulnerabilities" in capsys.readouterr().err
    assert lockfile.read_bytes() == before


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_killed_run_leaves_every_committed_file_as_it_was(
    fake_index: Index, two_packages: Path, tmp_path: Path
) -> None:
    repo = two_packages.parent.parent
    before = _files(repo)
    fake_index.add(fakenum("1.1", works=True), Wheel("otherpkg", "1.1", "py3-none-any"))
    argv = [sys.executable, "-m", "horus_pipeline.upgrade", str(two_packages), "--no-robots", "--no-build"]
    argv += ["--tests", "tests -q", "--summary", str(tmp_path / "summary.md")]
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, CI="true", TMPDIR=str(tmp_path / "tmp"))  # what a killed run leaves stays here
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "test fake-amd64's new lock" in line:  # the new locks are made: the run is half-way
            os.killpg(proc.pid, signal.SIGKILL)
            break
    assert proc.wait() == -signal.SIGKILL, "".join(seen)
    assert _files(repo) == before
    assert not (tmp_path / "summary.md").exists()


class _Osv(http.server.BaseHTTPRequestHandler):
    """OSV's query API on loopback: otherpkg 1.0 has one advisory (fixed in 1.1), nothing else has any."""

    asked: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, version = query["package"]["name"], query["version"]
        self.asked.append((name, version))
        vulns = []
        if (name, version) == ("otherpkg", "1.0"):
            fixed = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}
            vulns = [
                {"id": "OSV-2026-7", "affected": [{"package": {"name": name, "ecosystem": "PyPI"}, "ranges": [fixed]}]}
            ]
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_only_security_audits_the_pylock_with_pip_audit(
    fake_index: Index, two_packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Osv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PIP_AUDIT_VULNERABILITY_SERVICE", "osv")
        monkeypatch.setenv("PIP_AUDIT_OSV_URL", f"http://127.0.0.1:{server.server_address[1]}/v1/query")
        fake_index.json_api = False  # the index says nothing: what is known comes from pip-audit
        fake_index.add(fakenum("1.1", works=True), Wheel("otherpkg", "1.1", "py3-none-any"))
        summary = tmp_path / "summary.md"
        assert upgrade(two_packages, summary, "--only-security") == 0
    finally:
        server.shutdown()
    assert sorted(_Osv.asked) == [("fakenum", "1.0"), ("otherpkg", "1.0")]  # the pylock's pins, read by pip-audit
    lock = (two_packages.parent.parent / "lockfiles" / "fake-amd64.txt").read_text()
    assert "otherpkg==1.1" in lock and "fakenum==1.0" in lock
    assert "Only packages with known vulnerabilities were upgraded (otherpkg: OSV-2026-7)" in summary.read_text()
