"""Update holds (horus.UpdateHold, `horus updates`, horus_update_hold in C): what a deploy reads to
wait at its switch while a robot is busy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import horus
import pytest
from horus.runtime import updates
from test_c_node import build

HOLD_NODE = Path(__file__).with_name("c") / "hold.c"


def horus_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "horus.cli.main", *args], capture_output=True, text=True, timeout=60)


def listed() -> list[dict[str, object]]:
    """What a deploy sees: `horus updates --json`."""
    proc = horus_cli("updates", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_holds_nest_and_several_holders_hold_at_once(ns: str) -> None:
    docking, lifting = horus.UpdateHold("docking"), horus.UpdateHold("lifting")
    assert listed() == []
    with docking:
        with docking, lifting:
            assert sorted(h["reason"] for h in listed()) == ["docking", "docking", "lifting"]
        assert [h["reason"] for h in listed()] == ["docking"]
        assert docking.held and not lifting.held
    assert listed() == [] and not docking.held


def test_a_hold_ends_with_the_process_that_held_it(ns: str) -> None:
    code = "import horus, time\nwith horus.UpdateHold('mission'):\n    print('held', flush=True)\n    time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        (hold,) = listed()
        assert (hold["reason"], hold["pid"], hold["until"]) == ("mission", proc.pid, None)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert listed() == []  # killed: the kernel dropped its lock, so the hold is over
    assert list(updates.holds_dir().iterdir()) == []  # and its file was tidied away


def test_an_operator_hold_lasts_its_time_or_until_released(ns: str) -> None:
    said = horus_cli("updates", "hold", "--reason", "inspection", "--for", "1h")
    assert said.returncode == 0, said.stderr
    (hold,) = listed()
    assert hold["reason"] == "inspection" and hold["holder"] == "operator"
    assert 3590 < float(hold["until"]) - time.time() <= 3600  # type: ignore[arg-type]
    table = horus_cli("updates")
    assert "operator" in table.stdout and "inspection" in table.stdout
    assert horus_cli("updates", "release").returncode == 0
    assert listed() == []
    short = horus_cli("updates", "hold", "--for", "1s")
    assert short.returncode == 0 and len(listed()) == 1
    time.sleep(1.2)
    assert listed() == []  # its time is up
    assert horus_cli("updates", "hold").returncode == 2  # how long, says the error


def test_a_hold_file_another_process_wrote_is_shown_as_plain_text(ns: str) -> None:
    with horus.UpdateHold("real"):
        forged = updates.holds_dir() / "99999.0.hold"
        fd = os.open(forged, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, json.dumps({"reason": "\x1b[2J\x1b]0;pwned\x07" + "x" * 1000, "until": time.time() + 60}).encode())
        os.close(fd)
        garbage = updates.holds_dir() / "99998.0.hold"
        garbage.write_bytes(b"\xff" * (updates.MAX_FILE * 4))  # neither locked nor a hold: not one
        holds = listed()
        assert not garbage.exists()
    reasons = [str(h["reason"]) for h in holds]
    assert "real" in reasons
    (odd,) = [r for r in reasons if r != "real"]
    assert all(c.isprintable() for c in odd) and len(odd) <= updates.MAX_TEXT


@pytest.mark.parametrize("ending", ["released", "killed"])
def test_a_compiled_node_holds_updates_too(ns: str, tmp_path: Path, ending: str) -> None:
    exe = build(HOLD_NODE, tmp_path)
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("held ")
        holds = listed()
        assert sorted(str(h["reason"]) for h in holds) == ["docking ?bay? 3?", "lifting"]
        assert {h["pid"] for h in holds} == {proc.pid}
        if ending == "released":
            proc.stdin.write("release\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "released"
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert listed() == []
