"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer: multi-process writers and readers."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from horus_testing import require

CSRC = Path(__file__).resolve().parents[2] / "horus_core" / "csrc"
STRESS = Path(__file__).with_name("c") / "stress.c"
TICKLOG = Path(__file__).with_name("c") / "ticklog.c"
JOURNALWIRE = Path(__file__).with_name("c") / "journalwire.c"


SANITIZERS = "address,undefined"


def run_sanitized(tmp_path: Path, program: Path, sources: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Build `program` with the core's `sources` under the sanitizers; run it with a fresh shm dir, then `args`."""
    cc = shutil.which("gcc") or shutil.which("cc")
    require(cc is not None, "a host C compiler with sanitizer runtimes (gcc) is needed for the sanitizer run")
    exe = tmp_path / program.stem
    subprocess.run(
        [cc, "-std=c11", "-O1", "-g", f"-fsanitize={SANITIZERS}", "-fno-sanitize-recover=all",
         "-Wall", "-Wextra", "-Werror", "-I", str(CSRC),
         *[str(CSRC / name) for name in sources], str(program), "-o", str(exe), "-lm"],
        check=True,
    )  # fmt: skip
    shm = Path("/dev/shm") / f"horus-{program.stem}-{uuid.uuid4().hex[:8]}"
    shm.mkdir(mode=0o700)
    try:
        return subprocess.run([str(exe), str(shm), *args], capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def test_stress_every_payload_checked_under_sanitizers(tmp_path: Path) -> None:
    result = run_sanitized(tmp_path, STRESS, ["segment.c", "topic.c", "timing.c"], "100000", "3")
    assert result.returncode == 0, result.stderr
    readers = [line for line in result.stdout.splitlines() if line.startswith("reader")]
    assert len(readers) == 3, result.stdout


def test_tick_stats_registry_and_log_lines_under_sanitizers(tmp_path: Path) -> None:
    result = run_sanitized(tmp_path, TICKLOG, ["segment.c", "stats.c", "logring.c", "timing.c"], "200000", "2")
    assert result.returncode == 0, result.stderr
    readers = [line for line in result.stdout.splitlines() if line.startswith("reader")]
    assert len(readers) == 2, result.stdout


def test_journald_records_encoded_and_sent_under_sanitizers(tmp_path: Path) -> None:
    result = run_sanitized(tmp_path, JOURNALWIRE, ["journal.c"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "journal ok\n"
