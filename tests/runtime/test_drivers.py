"""horus.runtime.drivers as far as it is provided: the robot's name from horus.toml, and a clear refusal of the rest."""

from __future__ import annotations

from pathlib import Path

import horus
import pytest


def test_the_robot_name_comes_from_the_manifest_robot_section(tmp_path: Path) -> None:
    manifest = tmp_path / "horus.toml"
    manifest.write_text('[package]\nname = "probe"\nversion = "0.1.0"\n\n[robot]\nname = "turtlebot"\n')
    assert horus.runtime.drivers.robot_name_from(manifest) == "turtlebot"
    manifest.write_text('[package]\nname = "probe"\nversion = "0.1.0"\n')
    assert horus.runtime.drivers.robot_name_from(manifest) is None
    manifest.write_text("[robot]\nname = 7\n")
    with pytest.raises(ValueError, match=r"\[robot\] name must be a string"):
        horus.runtime.drivers.robot_name_from(manifest)


def test_hardware_drivers_are_refused_with_what_to_do_instead() -> None:
    with pytest.raises(NotImplementedError, match="open your devices in the node's init"):
        horus.runtime.drivers.load()
