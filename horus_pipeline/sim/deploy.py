"""Deploy a release to robots with the README's playbook (`ansible/deploy.yml`), as an operator does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import REPO
from ..errors import PipelineError

ANSIBLE = REPO / "ansible"


def ansible_playbook() -> str:
    """The ansible-playbook of this environment (lockfiles/tools.txt pins ansible-core)."""
    found = shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))
    if not Path(found).exists():
        raise PipelineError("ansible-playbook is missing: pip install -r lockfiles/tools.txt (ansible-core)")
    return found


def ansible_env() -> dict[str, str]:
    """This environment for ansible-playbook: the repository's ansible.cfg (SSH pipelining), no colours."""
    return dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")


def deploy(
    inventory: Path, limit: str, release: str, bundles: Path, *extra_vars: str
) -> subprocess.CompletedProcess[str]:
    """Run ansible/deploy.yml for one robot of `inventory`: release `release` of the bundles under
    `bundles` (<bundles>/<image>/...). Never raises on a failed play: the caller reads its output."""
    argv = [ansible_playbook(), "-i", str(inventory), "--limit", limit, str(ANSIBLE / "deploy.yml")]
    argv += ["-e", f"release={release}", "-e", f"horus_robot_bundles_dir={bundles}"]
    for var in extra_vars:
        argv += ["-e", var]
    return subprocess.run(argv, env=ansible_env(), capture_output=True, text=True, check=False)
