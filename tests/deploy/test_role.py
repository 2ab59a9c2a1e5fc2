"""The deploy role's contract, checked without robots: its variables and the deploy vars it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from horus_pipeline import REPO
from horus_pipeline.bundle.deploydata import deploy_vars, write_deploy_vars
from horus_pipeline.images import image_names, load_image

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


@pytest.mark.parametrize("image", image_names())
def test_deploy_vars_carry_what_the_units_need(image: str, tmp_path: Path) -> None:
    spec = load_image(image)
    path = write_deploy_vars(spec, tmp_path)
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(deploy_vars(spec)))
    assert data["prefix"] == spec.prefix and data["user"] == spec.user
    assert [s["name"] for s in data["services"]] == [s.name for s in spec.services]
    journald = spec.journald
    assert data["journald"] == {"system_max_use": journald.system_max_use, "max_retention": journald.max_retention}
    mtime = path.stat().st_mtime_ns
    write_deploy_vars(spec, tmp_path)
    assert path.stat().st_mtime_ns == mtime, "unchanged deploy vars are not rewritten"
