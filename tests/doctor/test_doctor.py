"""`horus doctor`: the seed's pre-deployment checklist on apps written for the test, and on the shipped ones.

A test app is a small repository in tmp (images/t.toml, app/horus.toml, app/<scripts>): what a
user writes. The command runs as a user runs it (`python -m horus_pipeline.doctor`, `horus doctor`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from horus_pipeline.doctor.app import app_checks
from horus_pipeline.doctor.pipeline import _unit
from horus_pipeline.doctor.release import DoctorError, release_report, require_release_ok
from horus_pipeline.doctor.report import Check
from horus_pipeline.images import ImageSpec, load_image

SPEC = """
[target]
arch = "x86_64"
[os]
suite = "bookworm"
[app]
dir = "app"
[[services]]
name = "main"
script = "main.py"
"""

GOOD_NODE = 'horus.Node(name="beat", tick=tick, rate=10, failure_policy="fatal")'


def app(tmp_path: Path, files: dict[str, str], services: str = "") -> ImageSpec:
    """A repository in tmp with one image (images/t.toml) whose app holds `files`."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "t.toml").write_text(SPEC + textwrap.dedent(services))
    root = tmp_path / "app"
    root.mkdir()
    (root / "horus.toml").write_text('[package]\nname = "t"\nversion = "0.1.0"\n')
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return load_image(tmp_path / "images" / "t.toml")


def script(*nodes: str, head: str = "", body: str = "") -> str:
    return f"import horus\n{head}\ndef tick(node):\n    pass\n{body}\nhorus.run({', '.join(nodes)})\n"


def checks(spec: ImageSpec, check_id: str) -> list[Check]:
    return [c for c in app_checks(spec) if c.id == check_id]


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "horus_pipeline.doctor", *args], capture_output=True, text=True, timeout=120
    )


def test_a_node_without_failure_policy_fails_the_doctor_with_where_and_how(tmp_path: Path) -> None:
    spec = app(tmp_path, {"main.py": script('horus.Node(name="beat", tick=tick, rate=10)')})
    proc = doctor(str(spec.path), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    (check,) = [c for c in report["checks"] if c["id"] == "node.failure_policy"]
    assert check["status"] == "fail" and "main.py:6" in check["title"] and "beat" in check["title"]
    assert 'failure_policy="fatal"' in check["fix"]
    assert report["ok"] is False and report["summary"]["fail"] >= 1

    text = doctor(str(spec.path)).stdout
    assert "FAIL  node beat (main, main.py:6)" in text and "fix: add failure_policy=" in text


def test_the_json_report_has_a_stable_shape(tmp_path: Path) -> None:
    spec = app(tmp_path, {"main.py": script(GOOD_NODE)})
    report = json.loads(doctor(str(spec.path), "--json").stdout)
    assert set(report) == {"image", "ok", "summary", "checks"} and report["image"] == "t"
    assert set(report["summary"]) == {"pass", "warn", "fail"}
    assert sum(report["summary"].values()) == len(report["checks"])
    for check in report["checks"]:
        assert set(check) == {"id", "group", "status", "title", "evidence", "fix"}
        assert check["group"] in ("app", "pipeline", "live") and check["status"] in ("pass", "warn", "fail")
        assert check["status"] == "pass" or check["fix"], check


@pytest.mark.parametrize("image", ["demo-amd64", "demo-arm64"])
def test_the_demo_robot_passes_every_check(image: str) -> None:
    spec = load_image(image)
    report = release_report(spec)
    assert [c for c in report.checks if c.status != "pass"] == []
    ids = {c.id for c in report.checks}
    assert ids >= {"node.failure_policy", "code.print", "lock.fresh", "unit.restart", "unit.user"}
    assert require_release_ok(image).failed is False
    if any(s.program for s in spec.services):
        return  # motor and safety are compiled (demo-arm64): no Python node there runs at 100 Hz or more
    # The safety monitor (200 Hz, no init) shares its process with the motor, whose init disables gc.
    (safety,) = [c for c in report.checks if c.id == "node.gc" and "safety" in c.title]
    assert "nodes/motor.py:37" in safety.evidence


def test_the_deploy_hook_refuses_a_failing_release_naming_each_failure(tmp_path: Path) -> None:
    spec = app(tmp_path, {"main.py": script('horus.Node(name="beat", tick=tick, rate=10)')})
    with pytest.raises(DoctorError) as err:
        require_release_ok(spec)
    assert "beat" in str(err.value) and "fix: add failure_policy" in str(err.value)


def test_a_fast_node_needs_gc_tuned_in_its_process(tmp_path: Path) -> None:
    fast = 'horus.Node("fast", tick, None, None, 500, failure_policy="fatal")'  # positional, as Node binds them
    spec = app(tmp_path, {"main.py": script(fast)})
    (check,) = checks(spec, "node.gc")
    assert check.status == "fail" and "500 Hz" in check.evidence and "gc.disable()" in check.fix


def test_gc_tuned_in_the_init_of_a_node_in_the_same_process_counts(tmp_path: Path) -> None:
    files = {
        "main.py": "import horus\nfrom nodes.motor import make_motor\nhorus.run(make_motor())\n",
        "nodes/__init__.py": "",
        "nodes/motor.py": """\
            import gc
            from horus import Node as N
            from .rates import RATE

            def make_motor(rate=RATE):
                def init(node):
                    gc.disable()

                def tick(node):
                    pass

                return N(name="motor", tick=tick, init=init, rate=rate, failure_policy="fatal")
            """,
        "nodes/rates.py": "RATE = 1000\n",
    }
    spec = app(tmp_path, files)
    (check,) = checks(spec, "node.gc")
    assert check.status == "pass" and "nodes/motor.py:7" in check.evidence, check


def test_print_in_a_node_process_is_a_warning_that_names_each_call(tmp_path: Path) -> None:
    spec = app(
        tmp_path, {"main.py": script(GOOD_NODE, body='def helper():\n    print("tick")\n'), "unused.py": "print(1)\n"}
    )
    (check,) = checks(spec, "code.print")
    assert check.status == "warn" and check.evidence == "1 print() call(s): main.py:6" and "node.log_" in check.fix


def test_a_policy_only_kwargs_could_set_is_a_warning_not_a_guess(tmp_path: Path) -> None:
    spec = app(tmp_path, {"main.py": script("horus.Node(name='n', tick=tick, **OPTIONS)", head="OPTIONS = {}")})
    (check,) = checks(spec, "node.failure_policy")
    assert check.status == "warn"


def test_unit_settings_against_the_seed() -> None:
    bad = "[Service]\nUser=root\nRestart=always\nRestartSec=0\n"
    found = {c.id: c for c in _unit("x-main.service", bad)}
    assert {k: c.status for k, c in found.items()} == {
        "unit.restart": "fail",
        "unit.restart_sec": "fail",
        "unit.user": "fail",
    }
    assert "Restart=['always']" in found["unit.restart"].evidence


def test_the_horus_command_delegates_to_the_pipeline(tmp_path: Path) -> None:
    horus = Path(sys.executable).with_name("horus")
    proc = subprocess.run([horus, "doctor", "demo-amd64"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("0 failed"), proc.stderr
    assert subprocess.run([horus, "doctor", "--help"], capture_output=True, text=True).stdout.startswith(
        "usage: horus doctor"
    )


def test_on_a_robot_without_the_pipeline_the_horus_command_says_where_to_run_it() -> None:
    # A release ships horus_core only: no horus_pipeline to import.
    code = (
        "import sys; sys.modules['horus_pipeline'] = None; "
        "from horus.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    for command in ("doctor", "fleet"):
        proc = subprocess.run([sys.executable, "-c", code, command, "x"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert f"nox -s {command}" in proc.stderr and "operator's machine" in proc.stderr


def test_a_bad_image_is_one_error_line() -> None:
    proc = doctor("no-such-image")
    assert proc.returncode == 1 and proc.stderr.startswith("error: unknown image 'no-such-image'"), proc.stderr
