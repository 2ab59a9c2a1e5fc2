"""The robots of an Ansible inventory, and how to reach each one over SSH as Ansible would.

Ansible itself reads the inventory (`ansible-inventory --list`, ansible-core from
lockfiles/tools.txt): INI, YAML or JSON files, directories, group and host variables all mean
here what they mean to `ansible-playbook`. Of each host we use what its SSH connection uses:
ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file, ansible_ssh_common_args,
ansible_ssh_extra_args, and ansible_python_interpreter for the robot-side probe.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..proc import run


class InventoryError(PipelineError):
    """An inventory cannot be read or names no robot; the message says which file and what to do."""


@dataclass(frozen=True)
class Host:
    """One robot of the inventory and its SSH connection."""

    name: str  # inventory_hostname
    address: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    ssh_args: tuple[str, ...] = ()  # ansible_ssh_common_args + ansible_ssh_extra_args, split as a shell would
    python: str = "/usr/bin/python3"
    image: str | None = None  # the inventory's horus_image, when it says
    become: bool = False  # ansible_become: run as root through sudo, as the deploy's tasks do
    metrics_listen: str = ""  # horus_robot_metrics_listen: where the robot's metrics gateway serves (TLS)


def ansible_inventory() -> str:
    """The ansible-inventory of this environment (lockfiles/tools.txt pins ansible-core)."""
    found = shutil.which("ansible-inventory") or str(Path(sys.executable).with_name("ansible-inventory"))
    if not Path(found).exists():
        raise InventoryError(
            "ansible-inventory is missing: install the pipeline's tools (pip install -r lockfiles/tools.txt), "
            "or run through nox (nox -s fleet -- ...)"
        )
    return found


def load_inventory(path: Path, limit: str | None = None) -> list[Host]:
    """The hosts of `path` (Ansible's `--limit` pattern narrows them), in inventory order."""
    if not path.exists():
        raise InventoryError(f"{path}: no such inventory (give the one ansible-playbook uses, e.g. -i inventory.yml)")
    argv = [ansible_inventory(), "-i", str(path), "--list", *(["--limit", limit] if limit else [])]
    out = run(argv, what=f"reading inventory {path} with ansible-inventory", timeout=60).stdout
    hosts = hosts_of(json.loads(out))
    if not hosts:
        which = f" matching --limit {limit!r}" if limit else ""
        raise InventoryError(f"{path}: no hosts{which}. Add robots under a group's `hosts:` (see ansible/inventory*)")
    return hosts


def hosts_of(listing: dict[str, Any]) -> list[Host]:
    """Hosts from `ansible-inventory --list` output, in the order its groups list them."""
    hostvars: dict[str, dict[str, Any]] = listing.get("_meta", {}).get("hostvars", {})
    order: list[str] = []

    def walk(group: str, seen: set[str]) -> None:
        if group in seen:
            return
        seen.add(group)
        entry = listing.get(group, {})
        order.extend(h for h in entry.get("hosts", []) if h not in order)
        for child in entry.get("children", []):
            walk(child, seen)

    walk("all", set())
    order.extend(h for h in hostvars if h not in order)
    return [host(name, hostvars.get(name, {})) for name in order]


def host(name: str, hv: dict[str, Any]) -> Host:
    args = [
        *shlex.split(str(hv.get("ansible_ssh_common_args", ""))),
        *shlex.split(str(hv.get("ansible_ssh_extra_args", ""))),
    ]
    port = hv.get("ansible_port", hv.get("ansible_ssh_port"))
    return Host(
        name=name,
        address=str(hv.get("ansible_host", name)),
        port=int(port) if port is not None else None,
        user=hv.get("ansible_user", hv.get("ansible_ssh_user")),
        key=hv.get("ansible_ssh_private_key_file", hv.get("ansible_private_key_file")),
        ssh_args=tuple(args),
        python=str(hv.get("ansible_python_interpreter", "/usr/bin/python3")),
        image=hv.get("horus_image"),
        become=str(hv.get("ansible_become", False)).lower() in ("true", "yes", "1"),
        metrics_listen=str(hv.get("horus_robot_metrics_listen") or ""),
    )


def ssh_argv(h: Host, remote: Sequence[str], connect_timeout: float) -> list[str]:
    """`ssh` to `h` as Ansible's ssh connection would reach it, never prompting, running `remote`."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(connect_timeout))}"]
    argv += ["-p", str(h.port)] if h.port else []
    argv += ["-l", h.user] if h.user else []
    argv += ["-i", h.key] if h.key else []
    # sudo -n: never waits for a password it cannot get (the deploy account's sudo is passwordless).
    command = ["sudo", "-n", "--", *remote] if h.become else list(remote)
    # `--` before the address: an inventory's host name is never read as an option.
    return [*argv, *h.ssh_args, "--", h.address, shlex.join(command)]
