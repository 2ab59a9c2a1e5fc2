"""The cross-built aarch64 core really runs on an aarch64 CPython (Debian arm64 rootfs, qemu-user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from horus_testing import require_robot_host

from horus_pipeline.core import build_core_wheel
from horus_pipeline.images import load_image
from horus_pipeline.sim.rootfs import ensure_rootfs, run_in_rootfs
from horus_pipeline.targets import ARCHES

pytestmark = pytest.mark.e2e


def test_aarch64_wheel_installs_with_pip_and_passes_the_two_process_smoke_test(tmp_path: Path) -> None:
    require_robot_host("aarch64")
    wheel = build_core_wheel(ARCHES["aarch64"], tmp_path / "wheels")
    root = ensure_rootfs(load_image("demo-arm64"))
    script = (
        "set -e; uname -m; python3 -m venv /opt/smoke; "
        f"/opt/smoke/bin/pip install --no-index --disable-pip-version-check -q /wheels/{wheel.name}; "
        "/opt/smoke/bin/python -m horus.smoke"
    )
    result = run_in_rootfs(
        root, ["sh", "-c", script], ro_binds=[(wheel.parent, "/wheels")], volatile=True, timeout=900,
        what="installing and smoke-testing the aarch64 core",
    )  # fmt: skip
    out = result.stdout.decode()
    assert out.splitlines()[0] == "aarch64"
    assert "horus smoke: ok: 200 messages in order between two processes on aarch64" in out
