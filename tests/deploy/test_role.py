"""The deploy role and the robot contract, checked without robots: the role's variables, the units
a deploy writes from an image's deploy data, the guard script, and the rule that every name of the
robot's on-disk contract is spelled in one file only."""

from __future__ import annotations

import ast
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from horus_pipeline import REPO
from horus_pipeline.bundle.deploydata import deploy_vars
from horus_pipeline.images import ImageSpec, ImageSpecError, image_names, load_image
from horus_pipeline.robot import contract

ROLE = REPO / "ansible" / "roles" / "horus_robot"


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


def manifest_of(spec: ImageSpec, **changes: Any) -> dict[str, Any]:
    return {"id": "0123456789abcdef", "prefix": spec.prefix, "deploy": {**deploy_vars(spec), **changes}}


def files_of(spec: ImageSpec, **kw: Any) -> dict[str, contract.RobotFile]:
    return {f.path: f for f in contract.robot_files(manifest_of(spec), spec.name, **kw)}


def directives(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]


@pytest.mark.parametrize("image", image_names())
def test_each_service_of_the_image_gets_a_unit_that_runs_it_as_the_spec_says(image: str) -> None:
    spec = load_image(image)
    files = files_of(spec)
    prefix, app = spec.prefix, spec.app_name
    units = sorted(p for p in files if p.startswith(f"/etc/systemd/system/{app}-"))
    assert units == sorted(f"/etc/systemd/system/{app}-{s.name}.service" for s in spec.services)
    for svc in spec.services:
        unit = files[f"/etc/systemd/system/{app}-{svc.name}.service"].text or ""
        env_file = files[f"/etc/horus/{app}/{svc.name}.env"]
        assert (env_file.mode, env_file.owner) == (0o600, "root")  # unit files are world-readable; env files not
        assert f"# horus_robot unit of app {app}" in unit.splitlines()  # what pruning looks for
        assert directives(unit, "User") == [spec.user] and directives(unit, "Group") == [spec.group]
        python = f"{prefix}/current/venv/bin/python -u {prefix}/current/app/{svc.script}"
        # A compiled service runs its executable from the release's native layer (bundle/native.py).
        assert directives(unit, "ExecStart") == [f"{prefix}/current/native/{svc.name}" if svc.program else python]
        assert directives(unit, "Type") == [svc.type]
        assert float(directives(unit, "RestartSec")[0]) == svc.restart_sec
        watchdog = [] if svc.watchdog_sec is None else [svc.watchdog_sec]
        assert [float(w) for w in directives(unit, "WatchdogSec")] == watchdog
        assert directives(unit, "Environment") == []
        assert directives(unit, "EnvironmentFile") == [f"/etc/horus/{app}/{svc.name}.env"]
        env = dict(line.split("=", 1) for line in (env_file.text or "").splitlines() if not line.startswith("#"))
        # The app serves health where the deploy's health gate asks: the image's [health].
        assert env["HORUS_HEALTH_HOST"] == spec.health.host and env["HORUS_HEALTH_PORT"] == str(spec.health.port)
        assert env["HORUS_NAMESPACE"] == app and env.items() >= dict(svc.environment).items()
        assert env["HORUS_PARAMS_FILE"] == f"/etc/horus/{app}.params.json"
        after = directives(unit, "After")[0].split()
        assert after == ["network.target", *(f"{app}-{dep}.service" for dep in svc.after)]
        assert ("CAP_SYS_NICE CAP_IPC_LOCK" in directives(unit, "AmbientCapabilities")) == svc.realtime
        assert directives(unit, "MemoryMax") == [svc.memory_max]
        assert directives(unit, "TasksMax") == [str(svc.tasks_max)]
        assert directives(unit, "IPAddressDeny") == ["any"] and directives(unit, "IPAddressAllow") == ["localhost"]
        assert directives(unit, "LimitMEMLOCK") == ([svc.memory_max] if svc.realtime else [])


def test_fleet_status_finds_every_unit_of_an_image_with_compiled_services() -> None:
    """The index a deploy writes for fleet status lists Python and compiled services alike."""
    spec = load_image("demo-arm64")
    assert any(s.program for s in spec.services) and any(s.script for s in spec.services)
    index = json.loads(files_of(spec)[f"/etc/horus/apps/{spec.app_name}.json"].text or "")
    assert index["units"] == [f"{spec.app_name}-{s.name}.service" for s in spec.services]
    assert index["prefix"] == spec.prefix and index["health"]["port"] == spec.health.port


def test_a_robot_s_params_are_the_image_s_with_the_inventory_s_values_over_them() -> None:
    spec = load_image("fleet-amd64")
    path = f"/etc/horus/{spec.app_name}.params.json"
    over = files_of(spec, param_overrides={"max_speed": 0.25, "lidar": "front"})[path]
    assert json.loads(over.text or "") == {"max_speed": 0.25, "site": "lab", "lidar": "front"}
    assert (over.mode, over.owner, over.group) == (0o640, "root", spec.group)
    assert json.loads(files_of(spec)[path].text or "") == dict(spec.params)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prefix", "/opt/demo\nExecStartPre=+/bin/sh"),
        ("prefix", "/opt/demo\n"),
        ("script", "control.py\n"),
        ("script", "control.py\nExecStartPre=+/bin/sh -c id"),
        ("user", "horus\n"),
        ("user", "root"),
        ("group", "sudo"),
        ("environment", {"MODE": "fast\nUser=root"}),
        ("environment", {"MODE": "100%"}),
        ("memory_max", "1G\n"),
    ],
)
def test_a_value_that_would_become_unit_text_is_refused_on_the_robot(field: str, value: object) -> None:
    spec = load_image("fleet-amd64")
    manifest = manifest_of(spec)
    if field == "prefix":
        manifest["prefix"] = value
    elif field in ("script", "environment", "memory_max"):
        manifest["deploy"]["services"][0][field] = value
    else:
        manifest["deploy"][field] = value
    with pytest.raises(contract.ContractError, match=field):
        contract.robot_files(manifest, spec.name)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('prefix = "/opt/fleet"', 'prefix = "/opt/fleet\\n"', "app.prefix"),
        ('script = "beat.py"', 'script = "beat.py\\n"', "services[0].script"),
    ],
)
def test_a_newline_in_prefix_or_script_is_refused_at_build(tmp_path: Path, old: str, new: str, key: str) -> None:
    spec = load_image("fleet-amd64")
    text = (REPO / "images" / "fleet-amd64.toml").read_text()
    assert old in text
    (tmp_path / "images").mkdir()
    path = tmp_path / "images" / "fleet-amd64.toml"
    path.write_text(text.replace(old, new, 1).replace('dir = "apps/fleet"', f'dir = "{spec.app}"'))
    with pytest.raises(ImageSpecError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_image(path)


def guard(prefix: Path, *args: str) -> str:
    """Run the release-guard script a deploy writes, for an app installed under `prefix`."""
    lay = contract.Layout(str(prefix), "demo", "demo")
    script = prefix / "release-guard"
    script.write_text(contract.guard_script(lay, {"services": [{"name": "control"}]}))
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


# Names of the robot's on-disk contract: each spelled in horus_pipeline/robot/contract.py only.
CONTRACT_NAMES = (
    "release-guard",
    "horus_robot unit of app",
    "/etc/horus",
    "/etc/systemd",
    "/etc/tmpfiles.d",
    "/usr/local/bin/horus",
    "/var/lib/horus",
    "current/venv",
    "current/native",
    "current/app",
    "MANIFEST.json",
    "params.json",
    "/incoming",
    "horus-metrics-",
)


def _python_strings(path: Path) -> list[str]:
    """The string constants of a Python file, docstrings left out (they may say where things are)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    constants = (n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs)
    return [n.value for n in constants if isinstance(n.value, str)]


def _yaml_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "description" for s in _yaml_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _yaml_strings(v)]
    return [value] if isinstance(value, str) else []


def test_the_robot_contract_has_one_home() -> None:
    """The role, the image builder, fleet status, doctor, soak and the assembly tool take every path,
    marker and unit name of the robot from contract.py: no other file spells one (comments aside)."""
    files = subprocess.run(["git", "ls-files", "horus_pipeline", "ansible"], cwd=REPO, capture_output=True, text=True)
    found = []
    for rel in files.stdout.split():
        path = REPO / rel
        if rel == "horus_pipeline/robot/contract.py" or path.is_symlink() or not path.is_file():
            continue
        if rel.endswith(".py"):
            strings = _python_strings(path)
        elif rel.endswith((".yml", ".yaml")):
            strings = _yaml_strings(yaml.safe_load(path.read_text(encoding="utf-8")))
        else:
            continue
        found += [f"{rel}: {name!r} in {s!r}" for s in strings for name in CONTRACT_NAMES if name in s]
    assert not found, "spell these through horus_pipeline/robot/contract.py:\n" + "\n".join(found)


PEM_CERT = "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nTUlJQg==\n-----END PRIVATE KEY-----\n"
METRICS = {"listen": "0.0.0.0:9469", "allow": ["10.0.0.0/8"], "users": {"prometheus": "a long password"},
           "tokens": [], "cert": PEM_CERT, "key": PEM_KEY}  # fmt: skip


def test_the_metrics_gateway_is_its_own_unit_with_its_own_credentials() -> None:
    spec = load_image("demo-amd64")
    gateway = contract.metrics_gateway(METRICS, spec.app_name)
    files = files_of(spec, metrics=gateway)
    lay = contract.layout(manifest_of(spec))
    unit = files[f"/etc/systemd/system/{lay.metrics_unit}"].text or ""
    assert directives(unit, "DynamicUser") == ["yes"] and directives(unit, "User") == []
    assert directives(unit, "ExecStart") == [
        f"/usr/bin/python3 -I {spec.prefix}/current/metrics_gateway.py --listen 0.0.0.0:9469 --upstream 127.0.0.1:8080"
    ]
    assert directives(unit, "IPAddressAllow") == ["localhost 10.0.0.0/8"]
    assert directives(unit, "LoadCredential") == [f"{n}:{lay.metrics_dir}/{n}" for n in contract.GATEWAY_CREDENTIALS]
    key = files[f"{lay.metrics_dir}/tls.key"]
    assert key.secret and key.mode == 0o600 and files[lay.metrics_dir].mode == 0o700
    auth = files[f"{lay.metrics_dir}/auth.json"].text or ""
    assert "a long password" not in auth and "prometheus" in auth
    assert lay.metrics_unit in lay.enabled(manifest_of(spec)["deploy"], metrics=True)
    # Node units are the same with or without the gateway: adding it restarts no node.
    without = files_of(spec)
    assert all(without[p] == files[p] for p in without if p.endswith(".service"))
    assert json.loads(files[lay.index_file].text or "")["metrics"] == {
        "unit": lay.metrics_unit,
        "listen": "0.0.0.0:9469",
    }


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"users": {}, "tokens": []}, "neither horus_robot_metrics_users nor horus_robot_metrics_tokens"),
        ({"listen": "0.0.0.0:9469\nExecStartPre=+/bin/sh"}, "ADDRESS:PORT"),
        ({"listen": "robot.local:9469"}, "ADDRESS:PORT"),
        ({"allow": ["10.0.0.0/8 any"]}, "horus_robot_metrics_allow"),
        ({"users": {"prometheus": "short"}}, "8 to 1024"),
        ({"users": {"a b": "a long password"}}, "horus_robot_metrics_users"),
        ({"cert": "not a certificate"}, "horus_robot_tls_cert_file"),
        ({"key": PEM_KEY + "\n[Service]\nExecStartPre=+/bin/sh"}, "horus_robot_tls_key_file"),
    ],
)
def test_metrics_settings_that_would_break_the_gateway_are_refused(change: dict[str, Any], said: str) -> None:
    with pytest.raises(contract.ContractError, match=said):
        contract.metrics_gateway({**METRICS, **change}, "demo")


def test_the_journal_upload_is_debian_s_unit_given_the_robot_s_credentials() -> None:
    spec = load_image("fleet-amd64")
    upload = contract.journal_upload(
        {"url": "https://logs.lab:19532/", "cert": PEM_CERT, "key": PEM_KEY, "ca": PEM_CERT}
    )
    files = files_of(spec, journal=upload)
    conf = files[contract.JOURNAL_UPLOAD_CONF].text or ""
    assert "URL=https://logs.lab:19532\n" in conf
    dropin = files[contract.JOURNAL_UPLOAD_DROPIN].text or ""
    assert directives(dropin, "Restart") == ["always"] and directives(dropin, "StartLimitIntervalSec") == ["0"]
    assert directives(dropin, "LoadCredential") == [
        f"{n}:{contract.JOURNAL_UPLOAD_DIR}/{n}" for n in contract.JOURNAL_CREDENTIALS
    ]
    assert files[f"{contract.JOURNAL_UPLOAD_DIR}/key.pem"].secret
    lay = contract.layout(manifest_of(spec))
    assert contract.JOURNAL_UPLOAD_UNIT in lay.enabled(manifest_of(spec)["deploy"], journal=True)
    without = files_of(spec)
    assert all(without[p] == files[p] for p in without if p.endswith(".service"))


@pytest.mark.parametrize("url", ["http://logs.lab:19532", "https://logs.lab:19532\nURL=https://evil", "logs.lab"])
def test_a_journal_upload_url_that_is_not_https_to_a_host_is_refused(url: str) -> None:
    with pytest.raises(contract.ContractError, match="horus_robot_journal_upload_url"):
        contract.journal_upload({"url": url, "cert": PEM_CERT, "key": PEM_KEY, "ca": PEM_CERT})
