"""What the deploy role writes on a robot, rendered from its own task files and templates.

The role (ansible/roles/horus_robot) is the one source of unit text, directory modes and owners:
its unconditional `file`, `template` and `copy` tasks are read here as written (path, mode,
owner, group, loop) and rendered by Ansible's own templating engine (doctor/units.py), so an image
holds exactly what `ansible-playbook ansible/deploy.yml` would have put there. Tasks with a
`when:` or inside a block act on a live robot (push, unpack, switch) and are done by content.py
the way the role does them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..bundle.release import ReleaseManifest
from ..doctor.units import ROLE, render_template, role_vars
from ..errors import PipelineError
from ..images import ImageSpec

# The role's phases whose unconditional tasks shape the robot's files, in the order they run.
TASK_FILES = ("install.yml", "configure.yml", "run.yml")
_MODULES = ("ansible.builtin.file", "ansible.builtin.template", "ansible.builtin.copy")
# What `{{ ansible_managed }}` says in files the template module writes (ansible-core's default).
MANAGED = "Ansible managed"


@dataclass(frozen=True)
class RoleFile:
    """One directory or file the role writes: absolute path on the robot, mode, owner names, text."""

    path: str
    mode: int
    owner: str
    group: str
    text: str | None  # None: a directory


def role_files(spec: ImageSpec, manifest: ReleaseManifest) -> list[RoleFile]:
    """Every directory and file the role's unconditional tasks write for `manifest`, in task order."""
    variables = role_vars(spec, dict(manifest), MANAGED)
    # A robot flashed with the image ran no release before: the newest serial it knows is 0.
    variables["_horus_robot_newest_serial"] = 0
    found: list[RoleFile] = []
    for name in TASK_FILES:
        for task in yaml.safe_load((ROLE / "tasks" / name).read_text(encoding="utf-8")) or []:
            module = next((m for m in _MODULES if m in task), None)
            if module is None or "when" in task or "block" in task:
                continue
            loop_var = (task.get("loop_control") or {}).get("loop_var", "item")
            items = render_template(task["loop"], variables) if "loop" in task else [None]
            for item in items:
                found.append(_rendered(module, task[module], {**variables, loop_var: item}))
    return found


def _rendered(module: str, args: dict[str, Any], variables: dict[str, Any]) -> RoleFile:
    def value(key: str, default: str = "") -> str:
        return str(render_template(str(args.get(key, default)), variables))

    path = value("path") if module.endswith(".file") else value("dest")
    if module.endswith(".template"):
        text: str | None = value("src") and str(
            render_template((ROLE / "templates" / value("src")).read_text(encoding="utf-8"), variables)
        )
    elif module.endswith(".copy"):
        text = value("content")
    else:
        text = None  # `state: directory`, the only kind of `file` task the role has outside blocks
    return RoleFile(path, int(value("mode"), 8), value("owner", "root"), value("group", "root"), text)


@dataclass(frozen=True)
class Account:
    """The service account as install.yml's `group` and `user` tasks make it."""

    user: str
    group: str
    shell: str
    home: str


def service_account(spec: ImageSpec, manifest: ReleaseManifest) -> Account:
    """The role's service group and user (system accounts, no home created: the tasks say so)."""
    variables = role_vars(spec, dict(manifest), MANAGED)
    tasks = yaml.safe_load((ROLE / "tasks" / "install.yml").read_text(encoding="utf-8"))
    user = next(t["ansible.builtin.user"] for t in tasks if "ansible.builtin.user" in t)
    group = next(t["ansible.builtin.group"] for t in tasks if "ansible.builtin.group" in t)
    if not (user.get("system") and group.get("system")) or user.get("create_home", True):
        raise PipelineError(
            f"{ROLE / 'tasks' / 'install.yml'}: the service user and group are no longer system accounts without a "
            "home, which is all horus_pipeline/image/content.py knows how to make: teach it the new account"
        )
    return Account(
        *(str(render_template(str(v), variables)) for v in (user["name"], group["name"], user["shell"], user["home"]))
    )


def enabled_units(spec: ImageSpec, manifest: ReleaseManifest) -> list[str]:
    """The units the role enables (its `systemd_service: enabled: true` task's loop)."""
    variables = role_vars(spec, dict(manifest), MANAGED)
    tasks = yaml.safe_load((ROLE / "tasks" / "run.yml").read_text(encoding="utf-8"))
    task = next(t for t in tasks if (t.get("ansible.builtin.systemd_service") or {}).get("enabled") is True)
    return [str(u) for u in render_template(task["loop"], variables)]
