"""Node log lines: on stderr in order with print(), in the namespace's ring, wherever stderr points."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import horus
import pytest
from horus.observability import log, logring

LOGGING_NODE = """
import contextlib, io, sys
import horus
from horus.observability import log

node = horus.Node(name="arm")
node.tick_count = 7
print("first", flush=True)
node.log_info("one")
print("partial ", end="", file=sys.stderr)
node.log_warning("two")
print("third", file=sys.stderr)
node.log_error("three \\udcff")
log.emit(25, "arm", 8, "a level of its own")
node.log_debug("x" * 5000)
captured = io.StringIO()
with contextlib.redirect_stderr(captured):
    node.log_info("redirected")
print("last", captured.getvalue() == "[INFO] arm: redirected\\n", flush=True)
"""

EXPECTED = (
    "first\n"
    "[INFO] arm: one\n"
    "partial [WARNING] arm: two\n"
    "third\n"
    "[ERROR] arm: three \\udcff\n"
    "[25] arm: a level of its own\n"
    f"[DEBUG] arm: {'x' * 5000}\n"
    "last True\n"
)


def run_child(tmp_path: Path, code: str, *python_args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, *python_args, str(script)],
        text=True,
        env=env,
        timeout=60,
        **kw,  # type: ignore[call-overload]
    )


@pytest.mark.parametrize("python_args", [["-u"], []], ids=["unbuffered-as-units-run", "buffered"])
def test_lines_reach_stderr_in_order_with_print_and_the_ring(ns: str, tmp_path: Path, python_args: list[str]) -> None:
    # stdout and stderr into one pipe, as systemd joins them into one journal stream.
    done = run_child(tmp_path, LOGGING_NODE, *python_args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0 and done.stdout == EXPECTED
    records = list(logring.Reader().poll())
    assert [(r.level, r.node, r.tick, r.message[:20]) for r in records] == [
        (log.INFO, "arm", 7, "one"),
        (log.WARNING, "arm", 7, "two"),
        (log.ERROR, "arm", 7, "three \\udcff"),
        (25, "arm", 8, "a level of its own"),
        (log.DEBUG, "arm", 7, "x" * 20),
        (log.INFO, "arm", 7, "redirected"),
    ]
    assert records[4].truncated and records[4].message == "x" * 427


def test_a_full_or_gone_stderr_never_fails_a_log_call(ns: str, tmp_path: Path) -> None:
    code = "import horus\nhorus.Node(name='arm').log_error('nobody hears this')\nprint('still here')\n"
    with open("/dev/full", "w") as full:  # every write fails with ENOSPC
        done = run_child(tmp_path, code, "-u", stdout=subprocess.PIPE, stderr=full)
    assert done.returncode == 0 and done.stdout == "still here\n"
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: every write fails with EPIPE
    try:
        gone = run_child(tmp_path, code, "-u", stdout=subprocess.PIPE, stderr=writer)
    finally:
        os.close(writer)
    assert gone.returncode == 0 and gone.stdout == "still here\n"
    assert [r.message for r in logring.Reader().poll()] == ["nobody hears this", "nobody hears this"]


def test_captured_and_redirected_stderr_get_the_lines(ns: str, capsys: pytest.CaptureFixture[str]) -> None:
    node = horus.Node(name="arm")
    node.log_warning("to pytest")
    assert capsys.readouterr().err == "[WARNING] arm: to pytest\n"
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        node.log_info("to a buffer")
    assert buffer.getvalue() == "[INFO] arm: to a buffer\n" and capsys.readouterr().err == ""
    assert [r.message for r in logring.Reader().poll()] == ["to pytest", "to a buffer"]
