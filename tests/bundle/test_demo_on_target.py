"""The demo bundles are CPU-only: no CUDA package, no CUDA library in any layer.

That the same releases, assembled on the robot by their own tool, import every module of every
locked package and run HORUS is proven where a deploy already assembled them, on booted amd64
and arm64 (qemu-user) robots: tests/e2e/test_deploy.py. The bundles are built here first
(layers come from the cache after the first run, so this is quick when `nox -s build` ran before).
"""

from __future__ import annotations

import re

import pytest

from horus_pipeline.bundle.build import BundleResult, build_bundle
from horus_pipeline.images import load_image
from horus_pipeline.lock.compile import CUDA_PACKAGE

CUDA_FILE = re.compile(r"(^|/)(libcu[a-z]*|libnv[a-z]*|libcudnn[a-z]*)[^/]*\.so|(^|/)nvidia/|(^|/)triton/")


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
