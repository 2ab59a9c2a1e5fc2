"""Deploy benchmark: ansible/deploy.yml on simulated robots, today's role beside an earlier one.

    python tests/bench/deploy.py                          (as root; --robots 20, --baseline 3bfecd2)
    python tests/bench/deploy.py --arm64 --json dist/bench/deploy.json

For each role (the working tree's `ansible/`, and `ansible/` of the git ref `--baseline` exported
beside it), on robots booted for that role alone in a sim directory of its own: a fresh deploy of
release A to N fleet-amd64 robots (the light image: one node process), a no-op redeploy of one
robot and of all N, and release B (an app-only change) on all N; with `--arm64`, a fresh deploy of
demo-arm64 under qemu-user and an app-only upgrade of it. The same bundles for both roles. Prints
one table (seconds, the two roles side by side in one run, and their ratio) and writes JSON. Every
robot is stopped at the end, also on failure.

Goals (issue 25): no-op of one robot under 3 s, of 20 under 10 s; a new release on 20 under 60 s;
a fresh demo-arm64 under 90 s and its upgrade under 30 s.

Measured 2026-12-06 on the 2-core sandbox, nothing else running, one run, the 20 robots on the same
2 cores (before = the role of 3bfecd2, now = the one-transaction role):

    case                         before      now   ratio   goal
    fresh, 20 robots             393.1s    52.7s    7.5x      -
    no-op, 1 robot                19.9s     1.5s   13.3x     3s
    no-op, 20 robots             193.5s     9.2s   21.0x    10s
    new release, 20 robots       299.8s    48.4s    6.2x    60s
    demo-arm64 fresh             342.7s   110.3s    3.1x    90s
    demo-arm64 upgrade           401.5s   115.0s    3.5x    30s

Then, 2026-12-07, `--robots 0 --arm64 --baseline 91ac21b` (before = that one-transaction role; now =
layers checked once and trusted after, small layers sent inside the install call, no smoke test for an
environment the confirmed release already has or on a robot with nothing to keep running):

    case                         before      now   ratio   goal
    demo-arm64 fresh             116.2s    77.2s    1.5x    90s
    demo-arm64 upgrade            99.8s    38.3s    2.6x    30s

Then, 2026-12-07 again, twice, `--robots 0 --arm64 --baseline 406621a` (before = the gate and the
confirm in one module run, the first call imported; now = `systemctl enable --no-reload`, one
reload only when a unit file changed: the upgrade reloaded systemd for 1.9 s before):

    case                         before      now   ratio   goal
    demo-arm64 fresh        62.8s/66.3s  66.7s/64.0s  1.0x    90s
    demo-arm64 upgrade      30.0s/30.7s  29.0s/29.5s  1.0x    30s

Of the upgrade's 29 s, about 18 are the demo's own nodes stopping and starting under emulation
(stop 1.5 s; motor to demo.target 15-16 s, perception importing torch 9 s of it), a second is the
gate's last poll and the confirm; the deploy's own part before the switch is about 11 s: the
controller's preflight 1.8 s, the call that finds the missing app layer 3.5 s (1.4 s of it any
Ansible module's start under qemu-user, ansible.module_utils.basic's import alone 1.2 s), packing
0.7 s, the install call 5.8 s (assemble 1.6 s, switch 0.6 s). The install's answer says where its
time went (`ansible-playbook -v`: `seconds` per phase).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "e2e")]  # the deploy tests' helpers

from deploying import bundle, copy_image, playbook, write_inventory  # noqa: E402

from horus_pipeline import REPO  # noqa: E402
from horus_pipeline.images import load_image  # noqa: E402
from horus_pipeline.sim.fleet import Sim  # noqa: E402
from horus_pipeline.sim.robot import Robot  # noqa: E402

GOALS = {"no-op, 1 robot": 3.0, "no-op, 20 robots": 10.0, "new release, 20 robots": 60.0}
GOALS |= {"demo-arm64 fresh": 90.0, "demo-arm64 upgrade": 30.0}


def releases(image: str, work: Path) -> tuple[Path, str, str]:
    """Bundles of `image` with release A and an app-only change B; (bundles, A, B)."""
    app = copy_image(image, work / "repo")
    out = work / "bundles"
    first = bundle(work / "repo", image, out)
    script = next(p for p in sorted(app.glob("*.py")) if p.name != "__init__.py")
    script.write_text("# an app-only change\n" + script.read_text())
    return out, first, bundle(work / "repo", image, out)


class Bench:
    def __init__(self, work: Path, roles: dict[str, Path]) -> None:
        self.work, self.roles = work, roles
        self.figures: dict[str, dict[str, float]] = {}

    def timed(self, case: str, role: str, inventory: Path, robots: list[Robot], *args: str) -> None:
        log = self.work / f"{role}-{case.replace(' ', '_').replace(',', '')}.log"
        run = playbook(inventory, robots, *args, ansible_dir=self.roles[role], log=log)
        if run.rc != 0:
            raise SystemExit(f"{case} with the {role} role failed: see {log}")
        self.figures.setdefault(case, {})[role] = round(run.seconds, 1)
        print(f"{case:<26} {role:<8} {run.seconds:7.1f} s", flush=True)

    def fleet(self, role: str, count: int, bundles: Path, a: str, b: str) -> None:
        sim = Sim(self.work / f"sim-{role}", owner_pid=os.getpid())
        try:
            robots = sim.boot(load_image("fleet-amd64"), count)
            inventory = write_inventory(self.work / f"{role}-fleet.yml", robots, horus_robot_bundles_dir=str(bundles))
            self.timed(f"fresh, {count} robots", role, inventory, robots, "-e", f"release={a}")
            self.timed("no-op, 1 robot", role, inventory, robots[:1], "-e", f"release={a}", "--limit", robots[0].name)
            self.timed(f"no-op, {count} robots", role, inventory, robots, "-e", f"release={a}")
            self.timed(f"new release, {count} robots", role, inventory, robots, "-e", f"release={b}")
        finally:
            sim.stop()

    def arm64(self, role: str, bundles: Path, a: str, b: str) -> None:
        sim = Sim(self.work / f"sim-arm64-{role}", owner_pid=os.getpid())
        try:
            robots = sim.boot(load_image("demo-arm64"), 1)
            inventory = write_inventory(self.work / f"{role}-arm64.yml", robots, horus_robot_bundles_dir=str(bundles))
            self.timed("demo-arm64 fresh", role, inventory, robots, "-e", f"release={a}")
            self.timed("demo-arm64 upgrade", role, inventory, robots, "-e", f"release={b}")
        finally:
            sim.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python tests/bench/deploy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--robots", type=int, default=20, help="fleet-amd64 robots (default 20; 0: none)")
    parser.add_argument("--baseline", default="3bfecd2", help="git ref of the role to compare with (before issue 25)")
    parser.add_argument("--arm64", action="store_true", help="also a fresh deploy and an upgrade of demo-arm64")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="horus-bench-deploy-"))
    try:
        old = work / "baseline"
        old.mkdir()
        # The role, and the robot-side code its module imports (module_utils links to it) since issue 25.
        archive = subprocess.run(
            ["git", "archive", args.baseline, "ansible", "horus_pipeline/robot"], cwd=REPO, capture_output=True
        )
        if archive.returncode != 0:
            archive = subprocess.run(
                ["git", "archive", args.baseline, "ansible"], cwd=REPO, capture_output=True, check=True
            )
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        bench = Bench(work, {"before": old / "ansible", "now": REPO / "ansible"})
        if args.robots > 0:
            bundles, a, b = releases("fleet-amd64", work / "fleet")
            for role in ("before", "now"):
                bench.fleet(role, args.robots, bundles, a, b)
        if args.arm64:
            arm_bundles, arm_a, arm_b = releases("demo-arm64", work / "arm64")
            for role in ("before", "now"):
                bench.arm64(role, arm_bundles, arm_a, arm_b)
        print(f"\n{'case':<26} {'before':>8} {'now':>8} {'ratio':>7} {'goal':>6}")
        for case, by in bench.figures.items():
            ratio = by["before"] / by["now"] if by.get("now") else float("nan")
            goal = GOALS.get(case.replace(f"{args.robots} robots", "20 robots"), 0.0)
            shown = f"{goal:5.0f}s" if goal else "     -"
            print(f"{case:<26} {by.get('before', 0):7.1f}s {by.get('now', 0):7.1f}s {ratio:6.1f}x {shown}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            doc = {"baseline": args.baseline, "robots": args.robots, "goals": GOALS, "seconds": bench.figures}
            args.json.write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
