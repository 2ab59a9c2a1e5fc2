"""`nox -s lock` with nothing changed says so and writes nothing; any change to what a lock is made from locks again."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from pypi_testing import Index, MakeImage, Wheel, serving

from horus_pipeline.images import ImageSpec

UP_TO_DATE = "up to date (nothing they are made from changed"


def lock(spec: ImageSpec, *args: str) -> str:
    """`python -m horus_pipeline.lock` on the spec's file, as a user runs it; its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "horus_pipeline.lock", str(spec.path), *args],
        cwd=spec.path.parent.parent,
        capture_output=True,
        text=True,
        env=os.environ | {"CI": "true"},
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_an_unchanged_relock_writes_nothing_and_each_change_locks_again(
    fake_index: Index, make_image: MakeImage
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    pylock = spec.lockfile.with_name("pylock.fake-arm64.toml")
    lock(spec)  # from nothing
    lock(spec)  # from that lock: nothing it read changed while it ran, so it is recorded
    made = spec.lockfile.read_bytes()
    stamps = spec.lockfile.stat().st_mtime_ns, pylock.stat().st_mtime_ns
    said = lock(spec)
    assert UP_TO_DATE in said and "lockfiles/fake-arm64.txt" in said
    assert (spec.lockfile.stat().st_mtime_ns, pylock.stat().st_mtime_ns) == stamps  # not even rewritten

    # A new release on the index: its page changed, so the lock is made again (its pins kept).
    fake_index.add(Wheel("fakenum", "1.1", "py3-none-any"))
    assert UP_TO_DATE not in lock(spec)
    assert spec.lockfile.read_bytes() == made
    assert UP_TO_DATE in lock(spec)

    # A lock edited by hand is made again from its inputs.
    spec.lockfile.write_text(made.decode().replace("fakenum==1.0", "fakenum==1.1"))
    assert UP_TO_DATE not in lock(spec)

    # A dependency added to the app's manifest.
    manifest = spec.app / "horus.toml"
    manifest.write_text(manifest.read_text() + 'torch = { version = "9.0.0", source = "pypi" }\n')
    assert UP_TO_DATE not in lock(spec)
    assert "torch==9.0.0" in spec.lockfile.read_text()

    # --upgrade, or any option other than --output-dir, always locks.
    assert UP_TO_DATE not in lock(spec, "--upgrade")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _pages(index: Index) -> Callable[..., http.server.BaseHTTPRequestHandler]:
    """The index's files as a web server serves them."""
    return functools.partial(_QuietHandler, directory=str(index.root))


def test_a_page_changed_on_a_server_is_fetched_again_and_locks_again(
    fake_index: Index, make_image: MakeImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    with serving(_pages(fake_index)) as url:
        monkeypatch.setenv("PIP_INDEX_URL", f"{url}/simple")
        lock(spec, "--output-dir", "out")
        assert UP_TO_DATE in lock(spec, "--output-dir", "out")
        fake_index.add(Wheel("fakenum", "1.1", "py3-none-any"))
        assert UP_TO_DATE not in lock(spec, "--output-dir", "out")


def test_an_index_skipped_as_unreachable_is_probed_again_and_locks_again_once_it_answers(
    fake_index: Index, make_image: MakeImage
) -> None:
    spec = make_image("fake-arm64", arch="aarch64", deps={"fakenum": ">=1"})
    with serving(_pages(fake_index)) as url:
        port = int(url.rsplit(":", 1)[1])
    spec.path.write_text(spec.path.read_text().replace("indexes = []", f'indexes = ["{url}/simple"]'))
    lock(spec, "--output-dir", "out")  # the image's index is down: locked without it
    said = lock(spec, "--output-dir", "out")
    assert UP_TO_DATE in said and "unreachable" in said
    with serving(_pages(fake_index), port):
        assert UP_TO_DATE not in lock(spec, "--output-dir", "out")
