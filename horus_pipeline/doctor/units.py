"""The unit and journald files a deploy writes for an image, rendered without a robot.

The robot contract (horus_pipeline/robot/contract.py) is the one source of unit text; it is rendered
here from the image's deploy data (the manifest's `deploy` section, bundle/deploydata.py) with the
role's default inventory, so what the doctor reads is what `ansible-playbook ansible/deploy.yml`
installs.
"""

from __future__ import annotations

import os

from ..bundle.deploydata import deploy_vars
from ..images import ImageSpec
from ..robot import contract


def spec_files(spec: ImageSpec) -> list[contract.RobotFile]:
    """Every file a deploy of `spec`'s next release writes (its id is not known before the build)."""
    manifest = {"id": "unbuilt", "prefix": spec.prefix, "deploy": deploy_vars(spec)}
    return contract.robot_files(manifest, spec.name)


def render_units(spec: ImageSpec) -> dict[str, str]:
    """{unit file name: its text} for each service of `spec`."""
    lay = contract.Layout(spec.prefix, spec.app_name, spec.app_name)
    names = {f"{contract.UNIT_DIR}/{lay.unit(s.name)}" for s in spec.services}
    return {os.path.basename(f.path): f.text for f in spec_files(spec) if f.path in names and f.text is not None}


def render_journald(spec: ImageSpec) -> tuple[str, str]:
    """(path on the robot, text) of the journald drop-in a deploy writes."""
    path = contract.Layout(spec.prefix, spec.app_name, spec.app_name).journald_conf
    text = next(f.text for f in spec_files(spec) if f.path == path)
    assert text is not None
    return path, text


def directives(text: str, key: str) -> list[str]:
    """Values of `key=` lines of a unit or .conf file, in order (each assignment, as systemd reads them)."""
    return [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{key}=")]
