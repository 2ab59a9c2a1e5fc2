"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer: multi-process writers and readers."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from horus_testing import require

CSRC = Path(__file__).resolve().parents[2] / "horus_core" / "csrc"
STRESS = Path(__file__).with_name("c") / "stress.c"


@pytest.mark.parametrize("sanitizers", ["address,undefined"])
def test_stress_every_payload_checked_under_sanitizers(tmp_path: Path, sanitizers: str) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    require(cc is not None, "a host C compiler with sanitizer runtimes (gcc) is needed for the sanitizer run")
    exe = tmp_path / "stress"
    subprocess.run(
        [cc, "-std=c11", "-O1", "-g", f"-fsanitize={sanitizers}", "-fno-sanitize-recover=all",
         "-Wall", "-Wextra", "-Werror", "-I", str(CSRC),
         str(CSRC / "segment.c"), str(CSRC / "topic.c"), str(CSRC / "timing.c"), str(STRESS), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    shm = Path("/dev/shm") / f"horus-stress-{uuid.uuid4().hex[:8]}"
    shm.mkdir(mode=0o700)
    try:
        result = subprocess.run([str(exe), str(shm), "100000", "3"], capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    readers = [line for line in result.stdout.splitlines() if line.startswith("reader")]
    assert len(readers) == 3, result.stdout
