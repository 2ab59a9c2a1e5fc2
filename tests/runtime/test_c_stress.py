"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer: multi-process writers and readers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import horus
from horus_testing import require

CSRC = Path(__file__).resolve().parents[2] / "horus_core" / "csrc"
STRESS = Path(__file__).with_name("c") / "stress.c"
TICKLOG = Path(__file__).with_name("c") / "ticklog.c"
JOURNALWIRE = Path(__file__).with_name("c") / "journalwire.c"


SANITIZERS = "address,undefined"


def sanitized_compiler() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    require(cc is not None, "a host C compiler with sanitizer runtimes (gcc) is needed for the sanitizer run")
    assert cc is not None
    return cc


def sanitized_build(sources: list[str], out: Path, *extra: str) -> None:
    """Compile the core's `sources` (and any `extra` arguments) under the sanitizers into `out`."""
    subprocess.run(
        [sanitized_compiler(), "-std=c11", "-O1", "-g", f"-fsanitize={SANITIZERS}", "-fno-sanitize-recover=all",
         "-Wall", "-Wextra", "-Werror", "-I", str(CSRC),
         *[str(CSRC / name) for name in sources], *extra, "-o", str(out), "-lm"],
        check=True,
    )  # fmt: skip


def run_sanitized(tmp_path: Path, program: Path, sources: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Build `program` with the core's `sources` under the sanitizers; run it with a fresh shm dir, then `args`."""
    exe = tmp_path / program.stem
    sanitized_build(sources, exe, str(program))
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


def test_the_python_extension_and_its_codec_under_sanitizers(tmp_path: Path) -> None:
    """horus._core built with the sanitizers (its shared-memory topics and the codec's C fast paths,
    fed hostile payloads) runs the codec, message and topic tests."""
    package = tmp_path / "horus"
    shutil.copytree(Path(horus.__file__).parent, package, ignore=shutil.ignore_patterns("_core*.so", "__pycache__"))
    sources = ["segment.c", "topic.c", "logring.c", "stats.c", "timing.c", "journal.c", "pycodec.c", "module.c"]
    include = sysconfig.get_paths()["include"]
    sanitized_build(sources, package / "_core.abi3.so", "-fPIC", "-shared", "-I", include)
    runtimes = [
        subprocess.run([sanitized_compiler(), f"-print-file-name=lib{name}.so"], capture_output=True, text=True,
                       check=True).stdout.strip()
        for name in ("asan", "ubsan")
    ]  # fmt: skip
    # The interpreter itself is not instrumented: its allocations at exit are not ours to report.
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LD_PRELOAD": " ".join(runtimes)}
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    tests = [str(Path(__file__).with_name(name)) for name in ("test_codec.py", "test_messages.py", "test_topic.py")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (
        f"{package / '_core.abi3.so'}"
        in subprocess.run(
            [sys.executable, "-c", "import horus; print(horus._core.__file__)"], capture_output=True, text=True, env=env
        ).stdout
    )
