"""The wheels lock tests serve (on a pypi_testing.Index): fakes that imitate torch's CPU/CUDA split.

torch 9.0.0       cp311 manylinux_2_28 x86_64 and aarch64 wheels whose metadata pulls
                  nvidia-cublas-cu12 and triton behind `platform_machine == "x86_64"`
                  (as PyPI's torch does)
torch 9.0.0+cpu   cp311 manylinux_2_28 x86_64 wheel with no dependencies (the CPU index's build)
nvidia-cublas-cu12, triton   x86_64-only wheels
fakenum 1.0       a pure-Python wheel (tests add newer ones, for upgrades)
"""

from __future__ import annotations

from pypi_testing import Wheel

X86 = "cp311-cp311-manylinux_2_28_x86_64"
ARM = "cp311-cp311-manylinux_2_28_aarch64"
CUDA_DEPS = [
    'nvidia-cublas-cu12==1.0; platform_system == "Linux" and platform_machine == "x86_64"',
    'triton==1.0; platform_system == "Linux" and platform_machine == "x86_64"',
]


def default_wheels() -> list[Wheel]:
    return [
        Wheel("torch", "9.0.0", X86, CUDA_DEPS),
        Wheel("torch", "9.0.0", ARM, CUDA_DEPS),
        Wheel("torch", "9.0.0+cpu", X86),
        Wheel("nvidia-cublas-cu12", "1.0", "py3-none-manylinux_2_17_x86_64"),
        Wheel("triton", "1.0", "cp311-cp311-manylinux_2_17_x86_64", ["nvidia-cuda-runtime-cu12==1.0"]),
        Wheel("nvidia-cuda-runtime-cu12", "1.0", "py3-none-manylinux_2_17_x86_64"),
        Wheel("fakenum", "1.0", "py3-none-any", files={"fakenum/__init__.py": "VERSION = '1.0'\n"}),
    ]
