"""The unit and journald files the deploy role would write for an image, rendered without a robot.

The role's templates (ansible/roles/horus_robot/templates) are the one source of unit text; they
are rendered here by Ansible's own templating engine with the role's defaults and internal
variables and the image's deploy data (the manifest's `deploy` section, bundle/deploydata.py),
so what the doctor reads is what `ansible-playbook ansible/deploy.yml` installs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import yaml

from .. import REPO
from ..bundle.deploydata import deploy_vars
from ..images import ImageSpec

ROLE = REPO / "ansible" / "roles" / "horus_robot"


def trusted(value: Any) -> Any:
    """The role's own files are trusted templates to Ansible (ansible-core >= 2.19 asks to be told)."""
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


@functools.cache
def _plugins() -> None:
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def render_template(template: str, variables: dict[str, Any]) -> Any:
    """`template` rendered as the role's tasks would: Ansible's own engine, filters and lookups."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    _plugins()
    return Templar(loader=DataLoader(), variables=variables).template(trusted(template))


def role_vars(spec: ImageSpec, manifest: Mapping[str, Any] | None = None, managed: str = "") -> dict[str, Any]:
    """The role's defaults and internal variables for `spec`'s release `manifest` (by default just its
    prefix and deploy data); `managed` is what `{{ ansible_managed }}` says."""
    role: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        role |= yaml.safe_load((ROLE / part / "main.yml").read_text(encoding="utf-8"))
    manifest = manifest or {"prefix": spec.prefix, "deploy": deploy_vars(spec)}
    return {
        **trusted(role),
        "_horus_robot_manifest": manifest,
        "horus_robot_image": spec.name,
        "ansible_managed": managed,
    }


def render_units(spec: ImageSpec) -> dict[str, str]:
    """{unit file name: its text} for each service of `spec`."""
    variables = role_vars(spec)
    app = render_template("{{ _horus_robot_app }}", variables)
    template = (ROLE / "templates" / "service.j2").read_text(encoding="utf-8")
    services = render_template("{{ _horus_robot_deploy.services }}", variables)
    return {f"{app}-{s['name']}.service": str(render_template(template, {**variables, "svc": s})) for s in services}


def render_journald(spec: ImageSpec) -> tuple[str, str]:
    """(path on the robot, text) of the journald drop-in the role writes."""
    variables = role_vars(spec)
    app = render_template("{{ _horus_robot_app }}", variables)
    text = render_template((ROLE / "templates" / "journald.conf.j2").read_text(encoding="utf-8"), variables)
    return f"/etc/systemd/journald.conf.d/{app}.conf", str(text)


def directives(text: str, key: str) -> list[str]:
    """Values of `key=` lines of a unit or .conf file, in order (each assignment, as systemd reads them)."""
    return [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{key}=")]


def template_dest(src: str) -> str | None:
    """Where a task of the role installs template `src` (its `dest:` as written), None if no task does."""
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            args = task.get("ansible.builtin.template") or task.get("template")
            if isinstance(args, dict) and args.get("src") == src:
                return str(args.get("dest"))
    return None
