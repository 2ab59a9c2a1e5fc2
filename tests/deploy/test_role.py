"""The deploy role's contract, checked without robots: its variables, the units it renders from an
image's deploy data, and the facts it shares with the pipeline (release ids, signing namespace)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from horus_pipeline import REPO
from horus_pipeline.bundle.deploydata import deploy_vars
from horus_pipeline.bundle.signing import SIGN_NAMESPACE
from horus_pipeline.doctor.units import render_template, trusted
from horus_pipeline.images import ImageSpec, image_names, load_image
from horus_pipeline.robot.assemble import release_id

ROLE = REPO / "ansible" / "roles" / "horus_robot"


def role_vars(**extra: Any) -> dict[str, Any]:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    return {**trusted({**defaults, **internal}), **extra}


def test_argument_specs_document_exactly_the_defaults() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults), "meta/argument_specs.yml and defaults/main.yml must list the same keys"
    for name, spec in options.items():
        assert spec.get("description") and spec.get("type"), f"{name}: needs a description and a type"
        assert spec.get("default") == defaults[name], f"{name}: argument_specs default differs from defaults/main.yml"


def test_internal_variables_are_prefixed() -> None:
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert all(name.startswith("_horus_robot_") for name in internal)


def units(spec: ImageSpec) -> dict[str, tuple[str, str]]:
    """(unit file, environment file) the role renders per service of `spec`, from the manifest's deploy section."""
    manifest = {"prefix": spec.prefix, "deploy": deploy_vars(spec)}
    variables = role_vars(_horus_robot_manifest=manifest, horus_robot_image=spec.name, ansible_managed="x")
    services = render_template("{{ _horus_robot_deploy.services }}", variables)
    unit, env = ((ROLE / "templates" / name).read_text() for name in ("service.j2", "env.j2"))
    return {
        s["name"]: (render_template(unit, {**variables, "svc": s}), render_template(env, {**variables, "svc": s}))
        for s in services
    }


def directives(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]


@pytest.mark.parametrize("image", image_names())
def test_each_service_of_the_image_gets_a_unit_that_runs_it_as_the_spec_says(image: str) -> None:
    spec = load_image(image)
    rendered = units(spec)
    assert sorted(rendered) == sorted(s.name for s in spec.services)
    prefix, app = spec.prefix, spec.app_name
    for svc in spec.services:
        unit, env_file = rendered[svc.name]
        assert f"# horus_robot unit of app {app}" in unit.splitlines()  # what pruning looks for
        assert directives(unit, "User") == [spec.user] and directives(unit, "Group") == [spec.group]
        python = f"{prefix}/current/venv/bin/python -u {prefix}/current/app/{svc.script}"
        # A compiled service runs its executable from the release's native layer (bundle/native.py).
        assert directives(unit, "ExecStart") == [f"{prefix}/current/native/{svc.name}" if svc.program else python]
        assert directives(unit, "Type") == [svc.type]
        assert float(directives(unit, "RestartSec")[0]) == svc.restart_sec
        assert directives(unit, "WatchdogSec") == ([] if svc.watchdog_sec is None else [str(svc.watchdog_sec)])
        assert directives(unit, "Environment") == []  # unit files are world-readable; the env file is not
        assert directives(unit, "EnvironmentFile") == [f"/etc/horus/{app}/{svc.name}.env"]
        env = dict(line.split("=", 1) for line in env_file.splitlines() if line and not line.startswith("#"))
        # The app serves health where the deploy's health gate asks: the image's [health].
        assert env["HORUS_HEALTH_HOST"] == spec.health.host and env["HORUS_HEALTH_PORT"] == str(spec.health.port)
        assert env["HORUS_NAMESPACE"] == app and env.items() >= dict(svc.environment).items()
        assert env["HORUS_PARAMS_FILE"] == f"/etc/horus/{app}.params.json"
        after = directives(unit, "After")[0].split()
        assert after == ["network.target", *(f"{app}-{dep}.service" for dep in svc.after)]
        assert ("CAP_SYS_NICE CAP_IPC_LOCK" in directives(unit, "AmbientCapabilities")) == svc.realtime
        assert directives(unit, "MemoryMax") == [svc.memory_max] and directives(unit, "TasksMax") == [
            str(svc.tasks_max)
        ]
        assert directives(unit, "IPAddressDeny") == ["any"] and directives(unit, "IPAddressAllow") == ["localhost"]
        assert directives(unit, "LimitMEMLOCK") == ([svc.memory_max] if svc.realtime else [])


MANIFESTS = [
    {"format": 1, "id": "x", "image": "demo-amd64", "layers": [{"hash": "ab", "size": 3, "modules": ["numpy"]}]},
    {"id": "", "app": {"name": "démo ☃", "version": "1.0"}, "ratio": 0.1, "big": 2**53, "flags": [True, False, None]},
    {"nested": {"b": {"z": 1, "a": [1.5, -2, 'x\ny"z\\']}}, "empty": {}, "none": [], "id": "ignored"},
]


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_the_role_computes_a_release_id_as_the_pipeline_does(manifest: dict[str, Any]) -> None:
    variables = role_vars(_horus_robot_manifest=manifest)
    role_id = render_template("{{ _horus_robot_manifest_id }}", variables)
    assert re.fullmatch(r"[0-9a-f]{16}", role_id) and role_id == release_id(manifest)
    changed = json.loads(json.dumps(manifest))
    changed["image"] = str(changed.get("image", "")) + "-x"
    assert render_template("{{ _horus_robot_manifest_id }}", role_vars(_horus_robot_manifest=changed)) != role_id


def test_releases_are_signed_in_the_namespace_the_role_verifies() -> None:
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert internal["_horus_robot_sign_namespace"] == SIGN_NAMESPACE
    tasks = "".join(p.read_text() for p in (ROLE / "tasks").glob("*.yml"))
    assert SIGN_NAMESPACE not in tasks, "tasks name the namespace through _horus_robot_sign_namespace only"


def guard(prefix: Path, *args: str) -> str:
    """Run the role's release-guard script, rendered for an app installed under `prefix`."""
    variables = role_vars(
        ansible_managed="managed",
        _horus_robot_app="demo",
        _horus_robot_prefix=str(prefix),
        _horus_robot_units=["demo-control.service"],
        _horus_robot_target_unit="demo.target",
    )
    script = prefix / "release-guard"
    script.write_text(render_template((ROLE / "templates" / "release-guard.sh.j2").read_text(), variables))
    out = subprocess.run(["sh", str(script), *args], capture_output=True, text=True, check=True)
    return out.stdout


def installed(tmp_path: Path, current: str, confirmed: str | None) -> Path:
    for rid in ("a1", "b2"):
        (tmp_path / "releases" / rid).mkdir(parents=True)
    (tmp_path / "current").symlink_to(f"releases/{current}")
    if confirmed:
        (tmp_path / "healthy").write_text(f"{confirmed}\n")
    return tmp_path


def test_guard_puts_back_the_confirmed_release_when_current_was_never_confirmed(tmp_path: Path) -> None:
    prefix = installed(tmp_path, current="b2", confirmed="a1")
    assert "release b2 was never confirmed: back on confirmed release a1" in guard(prefix)
    assert os.readlink(prefix / "current") == "releases/a1"
    assert not (prefix / ".current-new").exists()


def test_guard_leaves_a_confirmed_release_alone(tmp_path: Path) -> None:
    prefix = installed(tmp_path, current="a1", confirmed="a1")
    assert guard(prefix) == ""
    assert os.readlink(prefix / "current") == "releases/a1"


def test_guard_armed_for_one_release_ignores_another(tmp_path: Path) -> None:
    """A timer armed at an earlier switch must not undo a later deploy still being judged."""
    prefix = installed(tmp_path, current="b2", confirmed="a1")
    assert guard(prefix, "--restart", "c3") == ""
    assert os.readlink(prefix / "current") == "releases/b2"


def test_guard_without_a_confirmed_release_leaves_none_running(tmp_path: Path) -> None:
    prefix = installed(tmp_path, current="b2", confirmed=None)
    assert "no release was before it" in guard(prefix)
    assert not (prefix / "current").is_symlink()


def test_a_robot_s_params_are_the_image_s_with_the_inventory_s_values_over_them() -> None:
    spec = load_image("fleet-amd64")
    configure = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text())
    task = next(t for t in configure if "horus.Params" in t["name"])
    content = task["ansible.builtin.copy"]["content"]
    deploy = deploy_vars(spec)
    variables = role_vars(_horus_robot_deploy=deploy, horus_robot_params={"max_speed": 0.25, "lidar": "front"})
    assert json.loads(render_template(content, variables)) == {"max_speed": 0.25, "site": "lab", "lidar": "front"}
    assert json.loads(render_template(content, role_vars(_horus_robot_deploy=deploy))) == dict(spec.params)
