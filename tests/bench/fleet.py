"""Fleet status benchmark: how long `horus fleet status` takes for 1, 5 and 20 deployed robots.

    python tests/bench/fleet.py                      (as root; --robots 1 5 20, --rounds 3)
    python tests/bench/fleet.py --json dist/bench/fleet.json

Boots simulated fleet-amd64 robots (the light image: one node process) in a sim directory of its
own, deploys one release to all of them with ansible/deploy.yml, then times the command as an
operator runs it (`python -m horus_pipeline.fleet status -i INVENTORY --limit ...`: inventory read
by ansible-inventory, one SSH round-trip per robot, all at once) for the first N robots, and
prints medians. Every robot is stopped at the end, also on failure. Goal (issue 19): 20 robots
answer in under 10 s.

Measured 2026-11-25 on the 2-core sandbox, shared with other test runs (load average 7-13), the
20 robots on the same 2 cores: 1 robot 2.72 s, 5 robots 3.11 s, 20 robots 8.84 s (medians of 3,
all healthy). About 1.3 s of each is fixed (the command's start and ansible-inventory); the rest
grows with the robots because here every robot's probe and `horus monitor` share two cores,
where a real fleet runs each on its own computer. Deploying the 20 took 681 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "e2e")]  # the deploy tests' helpers

from deploying import bundle, copy_image, playbook, write_inventory  # noqa: E402

from horus_pipeline.images import load_image  # noqa: E402
from horus_pipeline.sim.fleet import Sim  # noqa: E402

IMAGE = "fleet-amd64"
GOAL = 10.0  # seconds for 20 robots


def time_status(inventory: Path, names: list[str]) -> tuple[float, int]:
    """Seconds the command took, and how many robots answered healthy."""
    argv = [sys.executable, "-m", "horus_pipeline.fleet", "status", "-i", str(inventory), "--json"]
    start = time.monotonic()
    proc = subprocess.run([*argv, "--limit", ",".join(names)], capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    robots = json.loads(proc.stdout)
    assert [r["host"] for r in robots] == names, proc.stderr
    return seconds, sum(r["healthy"] for r in robots)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python tests/bench/fleet.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--robots", type=int, nargs="+", default=[1, 5, 20], metavar="N", help="fleet sizes to time")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per size (the median is shown)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="horus-bench-fleet-"))  # under $TMPDIR
    sim = Sim(work / "sim", owner_pid=os.getpid())
    try:
        copy_image(IMAGE, work / "repo")
        release = bundle(work / "repo", IMAGE, work / "bundles")
        robots = sim.boot(load_image(IMAGE), max(args.robots))
        inventory = write_inventory(work / "inventory.yml", robots, horus_robot_bundles_dir=str(work / "bundles"))
        deploy = playbook(inventory, robots, "-e", f"release={release}", log=work / "deploy.log")
        if deploy.rc != 0:
            raise SystemExit(f"deploy failed (log: {work / 'deploy.log'})")
        print(f"deployed {release} to {len(robots)} robots in {deploy.seconds:.0f}s")
        figures = []
        for n in args.robots:
            names = [r.name for r in robots[:n]]
            runs = [time_status(inventory, names) for _ in range(args.rounds)]
            seconds = statistics.median(s for s, _ in runs)
            healthy = min(h for _, h in runs)
            figures.append({"robots": n, "seconds": round(seconds, 2), "healthy": healthy, "rounds": args.rounds})
            print(f"fleet status, {n:>3} robot(s): {seconds:5.2f}s (median of {args.rounds}), {healthy} healthy")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"image": IMAGE, "goal_seconds_20": GOAL, "figures": figures}, indent=1))
        return 0
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
