"""Shared memory another user prepared: a namespace directory, a topic file or a link planted in
/dev/shm before the services start. Every process (root included) refuses what is not its own,
and nothing the planted entry points at is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import horus
import pytest
from horus.messaging import namespace
from horus_testing import require

OTHER = 65534  # nobody


def as_root() -> None:
    require(os.geteuid() == 0, "planting files of another user needs root")


def test_namespace_directory_of_another_user_is_refused_even_by_root(ns: str) -> None:
    as_root()
    planted = namespace.directory(ns)
    planted.mkdir(mode=0o700)
    os.chown(planted, OTHER, OTHER)
    with pytest.raises(OSError, match=f"belongs to uid {OTHER}, not to this user"):
        horus.Topic("cmd_vel")
    assert list(planted.iterdir()) == []


def planted_topic(ns: str, name: str) -> Path:
    topics = namespace.topics_dir(ns)
    topics.mkdir(parents=True, mode=0o700)
    os.chmod(namespace.directory(ns), 0o700)
    return topics / namespace.topic_file(name)


def test_topic_file_of_another_user_is_refused(ns: str) -> None:
    as_root()
    seg = planted_topic(ns, "cmd_vel")
    seg.write_bytes(b"\0" * 4096)
    os.chown(seg, OTHER, OTHER)
    with pytest.raises(OSError, match=f"not a segment of this user .* belongs to uid {OTHER}"):
        horus.Topic("cmd_vel")
    assert seg.read_bytes() == b"\0" * 4096


def test_link_planted_as_a_topic_is_not_followed(ns: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious" * 512)
    planted_topic(ns, "cmd_vel").symlink_to(victim)
    with pytest.raises(OSError):
        horus.Topic("cmd_vel")
    assert victim.read_bytes() == b"precious" * 512


@pytest.mark.parametrize(
    "call",
    ["LogRing.__new__(LogRing).read(0)", "LogRing.__new__(LogRing).head", "Stats.__new__(Stats).read(0)",
     "Stats.__new__(Stats).scheduler", "Topic.__new__(Topic).head"],
)  # fmt: skip
def test_native_objects_never_opened_raise_instead_of_crashing(call: str) -> None:
    code = f"from horus._core import LogRing, Stats, Topic\ntry:\n    {call}\nexcept ValueError as e:\n    print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and ("not open" in out.stdout or "topic is closed" in out.stdout), out
