"""horus.Params: defaults, the project file, the per-robot file, HORUS_PARAM_*, types, callbacks, save."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import horus
import pytest


def test_layers_override_single_keys_in_order(tmp_path: Path) -> None:
    project = tmp_path / "params.yaml"
    project.write_text(json.dumps({"max_speed": 0.8, "gain": 2}))
    robot = tmp_path / "robot.toml"
    robot.write_text('max_speed = 0.5\nserial = "R-17"\n')
    env = {"HORUS_PARAMS_FILE": str(robot), "HORUS_PARAM_GAIN": "3.5", "HORUS_PARAM_MODE": "docking"}
    p = horus.Params(project, env=env)
    assert (p["max_speed"], p["serial"], p["gain"], p["mode"]) == (0.5, "R-17", 3.5, "docking")
    assert p["emergency_stop_distance"] == 0.3  # a default no layer touched stays
    assert p.get("missing", 7) == 7 and p.get("missing") is None and "serial" in p and len(p) == len(p.keys())
    with pytest.raises(KeyError):
        p["missing"]


def test_a_robot_runs_its_own_values_from_the_environment(tmp_path: Path) -> None:
    robot = tmp_path / "robot.json"
    robot.write_text('{"max_speed": 0.25}')
    code = "import horus; print(horus.Params()['max_speed'])"
    env = {"HORUS_PARAMS_FILE": str(robot), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "0.25\n", done.stderr


def test_a_broken_file_is_an_error_not_silent_defaults(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"params.yaml is malformed"):
        horus.Params(bad, env={})
    with pytest.raises(ValueError, match="must map names to values"):
        (tmp_path / "list.json").write_text("[1, 2]")
        horus.Params(env={"HORUS_PARAMS_FILE": str(tmp_path / "list.json")})


def test_values_keep_their_type_and_callbacks_can_refuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no project file here: the built-in defaults
    p = horus.Params(env={})
    seen: list[tuple[str, Any, Any]] = []

    def guard(key: str, old: Any, new: Any) -> None:
        seen.append((key, old, new))
        if key == "max_speed" and new > 2.0:
            raise ValueError("max_speed above 2 m/s is not allowed on this robot")

    p.on_change(guard)
    p["max_speed"] = 1  # an int for a float is fine
    with pytest.raises(ValueError, match="not allowed"):
        p["max_speed"] = 3.0
    with pytest.raises(TypeError, match="'max_speed' is a int"):
        p["max_speed"] = "fast"
    with pytest.raises(TypeError):
        p["handler"] = object()
    assert p["max_speed"] == 1 and seen == [("max_speed", 1.0, 1), ("max_speed", 1, 3.0)]
    assert p.remove("max_speed") and not p.remove("max_speed")
    p.reset()
    assert p["max_speed"] == 1.0


def test_save_writes_the_file_the_next_start_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # upstream's project file: .horus/config/params.yaml under the working directory
    p = horus.Params(env={})
    p["pid_kp"] = 2.5
    p.save()
    path = tmp_path / ".horus" / "config" / "params.yaml"
    assert horus.Params(env={})["pid_kp"] == 2.5 and json.loads(path.read_text())["pid_kp"] == 2.5
    assert not path.with_name("params.yaml~").exists()
