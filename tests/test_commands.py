"""Every pipeline command reports a mistake the same way: one `error:` line that says what to do, exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = {
    "core": ["horus_pipeline.core", "--arch", "riscv64"],
    "lock": ["horus_pipeline.lock", "no-such-image"],
    "bundle": ["horus_pipeline.bundle", "no-such-image"],
    "sim": ["horus_pipeline.sim", "no-such-image"],
    "upgrade": ["horus_pipeline.upgrade", "no-such-image"],
    "soak": ["horus_pipeline.soak", "no-such-image"],
    "doctor": ["horus_pipeline.doctor", "no-such-image"],
    "image": ["horus_pipeline.image", "no-such-image"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_argument_is_one_error_line_not_a_traceback(command: str) -> None:
    proc = subprocess.run([sys.executable, "-m", *COMMANDS[command]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error: "), proc.stderr
    what = "riscv64" if command == "core" else "no-such-image"
    assert what in first and ("supported arches are" in first or "images: " in first), first


def test_upgrade_says_the_committed_locks_are_untouched() -> None:
    proc = subprocess.run([sys.executable, "-m", *COMMANDS["upgrade"]], capture_output=True, text=True, timeout=120)
    assert proc.stderr.rstrip().endswith("The committed lockfiles are unchanged.")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_explains_itself(command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", COMMANDS[command][0], "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: nox -s "), proc.stdout
