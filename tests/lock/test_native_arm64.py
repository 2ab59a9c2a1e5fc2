"""The demo-arm64 lock made on this x86_64 machine pins what pip-compile pins natively on an arm64 robot.

The native side runs pip-compile inside the image's arm64 Debian rootfs under qemu-user, with
pins only (no hashes: hashing every file under emulation would cost minutes for nothing the
comparison needs). Both sides see the same indexes (PyPI and the image's reachable extra indexes, none
of this machine's local mirrors), at the same moment, from the same rendered input.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline.errors import PipelineError
from horus_pipeline.images import load_image
from horus_pipeline.indexes import reachable_indexes
from horus_pipeline.lock.compile import LockJob, compile_locks, lock_inputs
from horus_pipeline.lock.driver import TESTED
from horus_pipeline.lock.lockfile import read_lock
from horus_pipeline.project import load_project, write_pyproject

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# This machine's CA bundle, so pip inside the robot trusts what pip here trusts (proxies included).
HOST_CA = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture
def arm64_root() -> Path:
    require(os.geteuid() == 0, "running pip-compile in an arm64 rootfs needs root (systemd-nspawn)")
    require(shutil.which("apt-get") is not None, "the arm64 rootfs needs a Debian host (mmdebstrap, qemu-user)")
    from horus_pipeline.sim.rootfs import ensure_rootfs

    try:
        return ensure_rootfs(load_image("demo-arm64"))
    except PipelineError as err:
        require(False, f"arm64 rootfs: {err}")
        raise


def test_cross_lock_matches_native_arm64_pip_compile(
    arm64_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from horus_pipeline.sim.rootfs import run_in_rootfs

    spec = load_image("demo-arm64")
    # PyPI only, on both sides: the comparison is about the target, not about mirrors.
    for var in list(os.environ):
        if var.startswith("PIP_") and var != "PIP_CERT":
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("HORUS_CACHE", str(tmp_path / "cache"))

    (cross,) = compile_locks([LockJob(spec, tmp_path / "cross.txt")])  # no seed: a fresh resolution

    native_dir = tmp_path / "native"
    write_pyproject(load_project(spec.app), native_dir, list(lock_inputs(spec).requirements))
    tools = " ".join(f"{name}=={version}" for name, version in TESTED.items()) + " setuptools==80.9.0"
    # The image's extra indexes (the PyTorch CPU index) where this machine reaches them, as the cross lock.
    extra = " ".join(f"--extra-index-url {url}" for url in reachable_indexes(spec.indexes))
    script = (
        f"python3 -m venv /opt/lock && /opt/lock/bin/pip install -q {tools} && cd /in && "
        "/opt/lock/bin/pip-compile -q --no-build-isolation --allow-unsafe --strip-extras --no-emit-index-url "
        f"{extra} -o native.txt .horus/pyproject.toml && "
        "/opt/lock/bin/python -c 'import json; from pip._vendor.packaging.markers import default_environment as e; "
        "print(json.dumps(e()))' > markers.json"
    )
    run_in_rootfs(
        arm64_root,
        ["sh", "-c", script],
        volatile=True,
        binds=[(native_dir, "/in")],
        ro_binds=[(HOST_CA, "/etc/horus-host-ca.crt")],
        env={"PIP_CERT": "/etc/horus-host-ca.crt", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=1800,
        what="pip-compile natively on arm64 (qemu-user)",
    )
    native = read_lock(native_dir / "native.txt")
    # The robot's own marker environment is the one the cross lock evaluated markers with
    # (kernel release and build strings aside: no package's markers can depend on those).
    robot = json.loads((native_dir / "markers.json").read_text())
    kernel = {"platform_release", "platform_version"}
    assert {k: v for k, v in robot.items() if k not in kernel} == {
        k: v for k, v in spec.target.marker_environment().items() if k not in kernel
    }

    assert native.versions() == cross.versions()
    assert not any(name.startswith(("nvidia-", "cuda-")) or name == "triton" for name in cross.pins)
