"""Proof on the target: the demo bundles, assembled by their own tool, import every locked package and run HORUS.

arm64: assembled inside an arm64 Debian 12 rootfs under qemu-user (systemd-nspawn --pipe,
volatile), by the rootfs's /usr/bin/python3. amd64: the same inside the amd64 rootfs. Both
build their bundle first (layers come from the cache after the first run, so this is quick
when `nox -s build` ran before).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest
from horus_testing import require

from horus_pipeline.bundle import BundleResult, build_bundle
from horus_pipeline.errors import PipelineError
from horus_pipeline.images import load_image
from horus_pipeline.lock import CUDA_PACKAGE
from horus_pipeline.prereqs import ensure_host_tools
from horus_pipeline.rootfs import ensure_rootfs, run_in_rootfs

pytestmark = pytest.mark.e2e

CUDA_FILE = re.compile(r"(^|/)(libcu[a-z]*|libnv[a-z]*|libcudnn[a-z]*)[^/]*\.so|(^|/)nvidia/|(^|/)triton/")


def _host_ready(arch: str) -> None:
    require(os.geteuid() == 0, "running commands in a robot rootfs needs root (systemd-nspawn)")
    require(shutil.which("apt-get") is not None, "robot rootfs need a Debian host (tools come from apt)")
    from horus_pipeline.targets import get_arch

    try:
        ensure_host_tools([get_arch(arch)])
    except PipelineError as err:
        require(False, f"host tools for {arch} robots: {err}")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BundleResult]:
    out = tmp_path_factory.mktemp("bundles")
    return {name: build_bundle(load_image(name), out) for name in ("demo-amd64", "demo-arm64")}


@pytest.mark.parametrize("image", ["demo-amd64", "demo-arm64"])
def test_cpu_only_bundles_hold_no_cuda_library(bundles: dict[str, BundleResult], image: str) -> None:
    result = bundles[image]
    assert not [la.name for la in result.layers if CUDA_PACKAGE.match(la.name)]
    cuda = [f"{la.name}: {path}" for la in result.layers for path in la.files if CUDA_FILE.search(path)]
    assert cuda == []
    torch = next(la for la in result.layers if la.name == "torch")
    assert any(p.endswith("libtorch_cpu.so") for p in torch.files)  # the scan does see shared libraries


SCRIPT = """
set -e
cd /bundle
tar -xzOf layers/{tool}.tar.gz assemble.py > /opt/assemble.py
python3 /opt/assemble.py unpack --root /opt/demo --manifest releases/{rid}.json layers/*.tar.gz > /dev/null
python3 /opt/assemble.py assemble --root /opt/demo releases/{rid}.json
R=/opt/demo/releases/{rid}
uname -m
test "$(readlink $R/venv/bin/python)" = /usr/bin/python3.11
grep -qx 'home = /usr/bin' $R/venv/pyvenv.cfg
head -1 $R/venv/bin/torchrun
$R/venv/bin/python -c 'import sys, importlib
mods = sys.argv[1].split(",")
for m in mods:
    importlib.import_module(m)
print("imported", len(mods), "modules")' {modules}
cd /tmp && $R/venv/bin/python -m horus.smoke
"""


@pytest.mark.slow
@pytest.mark.parametrize("image", ["demo-amd64", "demo-arm64"])
def test_release_assembles_imports_everything_and_runs_horus_on_the_robot(
    bundles: dict[str, BundleResult], image: str, tmp_path: Path
) -> None:
    spec = load_image(image)
    _host_ready(spec.target.arch.name)
    result = bundles[image]
    manifest = json.loads(result.manifest.read_text())
    tool = next(la["hash"] for la in manifest["layers"] if la["kind"] == "tool")
    modules = sorted({m for la in manifest["layers"] if la["kind"] == "package" for m in la["modules"]})
    modules = ["horus", *modules]
    assert "torch" in modules and "numpy" in modules and "scipy" in modules
    root = ensure_rootfs(spec)
    opt = tmp_path / "opt"
    opt.mkdir()
    script = SCRIPT.format(tool=tool, rid=result.release, modules=",".join(modules))
    proc = run_in_rootfs(
        root, ["sh", "-c", script], binds=[(opt, "/opt")],
        ro_binds=[(result.manifest.parent.parent, "/bundle")], volatile=True, timeout=1200,
        what=f"assembling {image} and importing its packages",
    )  # fmt: skip
    out = proc.stdout.decode()
    print(out)
    assert f"release {result.release} assembled at /opt/demo/releases/{result.release}" in out
    assert spec.target.arch.name in out.splitlines()
    assert f"#!/opt/demo/releases/{result.release}/venv/bin/python" in out
    assert f"imported {len(modules)} modules" in out
    assert "horus smoke: ok" in out
    # Nothing the robot built went into its layers: they are as the archives hold them.
    for la in manifest["layers"]:
        with tarfile.open(result.manifest.parent.parent / la["archive"]) as tar:
            names = {m.name for m in tar.getmembers() if m.isreg()}
        unpacked = opt / "demo" / "layers" / la["hash"]
        assert {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()} == names
