"""Shared test helpers: prerequisites that skip locally and fail under CI=true."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def load_module(name: str, path: Path) -> ModuleType:
    """A Python file that is no package's module (a build backend, an Ansible plugin, a generator),
    loaded under `name` (registered, so dataclasses and the like inside it work)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false, with `reason`; under CI=true, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI=true: {reason}")
    pytest.skip(reason)


def require_robot_host(arch: str) -> None:
    """What booting a robot of `arch`, or running a command in its rootfs, needs of this host:
    root, a Debian host, and the host tools (systemd-nspawn, mmdebstrap, qemu-user for arm64),
    installed with apt when missing."""
    from horus_pipeline.errors import PipelineError
    from horus_pipeline.sim.prereqs import ensure_host_tools
    from horus_pipeline.targets import get_arch

    require(os.geteuid() == 0, "simulated robots need root (network namespaces, systemd-nspawn, mounts)")
    require(shutil.which("apt-get") is not None, "simulated robots need a Debian host (tools come from apt)")
    try:
        ensure_host_tools([get_arch(arch)])
    except PipelineError as err:
        require(False, f"host tools for {arch} robots: {err}")


def require_host_packages(packages: Sequence[str], what: str) -> None:
    """Debian packages a test needs on this host, installed with apt when missing (as the pipeline
    installs its host tools: root on Debian); without them the test skips, or fails under CI=true."""
    from horus_pipeline.errors import PipelineError
    from horus_pipeline.sim.prereqs import ensure_packages

    try:
        ensure_packages(packages)
    except PipelineError as err:
        require(False, f"{what}: {err}")


def write_release(bundles: Path, image: str, port: int, host: str = "127.0.0.1", latest: bool = True) -> str:
    """A release manifest of `image` in `bundles` (as much of one as Prometheus targets need: app and
    health), the image's newest unless `latest` is false; its id."""
    from horus_pipeline.robot.assemble import release_id

    manifest: dict[str, Any] = {
        "image": image,
        "app": {"name": "demo", "version": "1"},
        "deploy": {"app": "demo", "health": {"host": host, "port": port, "path": "/health"}},
    }
    manifest["id"] = rid = release_id(manifest)
    (bundles / image / "releases").mkdir(parents=True, exist_ok=True)
    (bundles / image / "releases" / f"{rid}.json").write_text(json.dumps(manifest))
    if latest:
        (bundles / image / "latest").write_text(rid + "\n")
    return rid
