"""`nox -s upgrade` proves new pins on the robots: one run, one amd64 and one arm64 robot (booted
once, reused by every trial), a local index of fake packages. Of three upgrades, one breaks only
on aarch64 (an import error there alone), one makes the app fail the deploy's health gate; both
are found by bisection and held back with their reason, and the third is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from horus_testing import require_robot_host
from pypi_testing import Index, Wheel, isolate_pip, require_lock_tools, write_repo

from horus_pipeline.cache import cache_root
from horus_pipeline.images import load_image
from horus_pipeline.lock.compile import lock_images
from horus_pipeline.lock.horus_lock import write_horus_lock
from horus_pipeline.upgrade import main

pytestmark = [pytest.mark.e2e, pytest.mark.long]  # about 12 min here: arm64 deploys of about 3 min each under qemu-user

APP = """\
import horus
import beatlib


def tick(node):
    if not beatlib.ok():
        raise RuntimeError(f"beatlib {beatlib.VERSION} says the robot is not ok")
    node.send("fake.beat", {"ok": True})


sched = horus.Scheduler(tick_rate=100, name="main")
sched.add(horus.Node(name="beat", tick=tick, rate=10, pubs=["fake.beat"], failure_policy="fatal"))
horus.serve_health(sched)
sched.run()
"""
APP_TEST = "import goodpkg\n\n\ndef test_goodpkg_answers():\n    assert goodpkg.answer() == 42\n"
HOST_TEST = "import armpkg\n\n\ndef test_armpkg_imports_here():\n    assert armpkg.VERSION\n"
ARM_BREAK = """
import platform

if platform.machine() == "aarch64":
    raise ImportError("armpkg 2.0 has no aarch64 support")
"""


def package(name: str, version: str, body: str = "") -> Wheel:
    source = f"VERSION = {version!r}\n{body}"
    return Wheel(name, version, files={f"{name}/__init__.py": source})


def beatlib(version: str, ok: bool) -> Wheel:
    return package("beatlib", version, f"\n\ndef ok():\n    return {ok}\n")


def goodpkg(version: str) -> Wheel:
    return package("goodpkg", version, "\n\ndef answer():\n    return 42\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two images (amd64, arm64) of one HORUS app that needs beatlib, armpkg and goodpkg 1.0, locked
    and committed; the fake index is pip's only source, the robots' base rootfs the machine's cache."""
    require_robot_host("x86_64")
    require_robot_host("aarch64")
    require_lock_tools()
    rootfs = cache_root() / "rootfs"  # built once per machine (minutes for arm64): shared, as by the other e2e tests
    index = Index(tmp_path / "index")
    index.add(beatlib("1.0", ok=True), package("armpkg", "1.0"), goodpkg("1.0"))
    isolate_pip(monkeypatch, index, tmp_path)
    (tmp_path / "horus-cache").mkdir()
    (tmp_path / "horus-cache" / "rootfs").symlink_to(rootfs)
    root = tmp_path / "repo"
    deps = {"beatlib": ">=1", "armpkg": ">=1", "goodpkg": ">=1"}
    files = {"main.py": APP, "tests/test_app.py": APP_TEST}
    specs = [
        load_image(write_repo(root, image, arch, deps=deps, app_files=files))
        for image, arch in (("fake-amd64", "x86_64"), ("fake-arm64", "aarch64"))
    ]
    lock_images(specs)
    write_horus_lock(specs[0].app, specs)
    (root / "tests").mkdir()
    (root / "tests" / "test_host.py").write_text(HOST_TEST)
    index.add(beatlib("2.0", ok=False), package("armpkg", "2.0", ARM_BREAK), goodpkg("1.1"))
    return root


def test_upgrade_keeps_what_passes_on_the_robots_and_holds_back_the_rest(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    images = [str(repo / "images" / f"fake-{a}.toml") for a in ("amd64", "arm64")]
    argv = [*images, "--tests", "tests -q", "--summary", str(summary), "--soak", "2", "--health-timeout", "30"]
    assert main(argv) == 0
    for arch in ("amd64", "arm64"):
        lock = (repo / "lockfiles" / f"fake-{arch}.txt").read_text()
        assert "goodpkg==1.1" in lock and "armpkg==1.0" in lock and "beatlib==1.0" in lock, lock
    report = json.loads(summary.with_suffix(".json").read_text())
    held = {h["packages"][0]: h for h in report["held_back"]}
    assert sorted(held) == ["armpkg", "beatlib"]
    # armpkg: fine on the host and the amd64 robot, refused on the arm64 robot (the deploy's smoke
    # test imports it before switching, as the loop's own import check would after).
    assert "arm64 robot" in held["armpkg"]["check"] and "deploy.yml" in held["armpkg"]["check"]
    assert "armpkg 2.0 has no aarch64 support" in held["armpkg"]["output"]
    # beatlib: the new release fails the deploy's health gate; the journal says why.
    assert "health gate" in held["beatlib"]["check"]
    assert "beatlib 2.0 says the robot is not ok" in held["beatlib"]["output"]
    checks = "\n".join(report["checks"])
    assert "amd64 robot" in checks and "arm64 robot" in checks and "app tests (1 test(s), 0 failed)" in checks
    assert report["receive"]["fake-arm64"]["layers"] >= 1 and report["receive"]["fake-arm64"]["bytes"] > 0
    text = summary.read_text()
    assert "| goodpkg | 1.0 | 1.1 |" in text and "### armpkg" in text and "### beatlib" in text
    assert "A robot on the committed release receives" in text
