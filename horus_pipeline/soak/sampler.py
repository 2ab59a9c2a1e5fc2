"""Runs on the robot, as the app's service user with the release's Python: one JSON line per
second for DURATION seconds, then exits. Standard library and the release's horus only.

    python - DURATION UNIT...    (the source on stdin; HORUS_NAMESPACE set to the app's)

Each line: {"t": seconds since start, "units": {unit: {"rss": bytes, "restarts": n, "active": bool,
"pid": main pid}},
"nodes": [horus.observability.registry.snapshot() entries]}. RSS is the unit's cgroup memory.current (every
process of the unit: the figure MemoryMax= limits), or where the robot has no cgroup v2 the sum
of its processes' RSS.
"""

import json
import subprocess
import sys
import time

# Where a unit's processes are listed: the unified hierarchy (cgroup v2), or on a hybrid host
# (cgroup v1, as under some container hosts) systemd's own and the unified one beside it.
HIERARCHIES = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")


def process_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def unit_rss(group: str, main_pid: int) -> "int | None":
    """The unit's memory: cgroup v2's memory.current, else the RSS of every process it holds."""
    try:
        with open(f"/sys/fs/cgroup{group}/memory.current") as f:
            return int(f.read())
    except (OSError, ValueError):
        pass
    for root in HIERARCHIES:
        try:
            with open(f"{root}{group}/cgroup.procs") as f:
                pids = [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            continue
        if pids:
            return sum(process_rss(p) for p in pids)
    return process_rss(main_pid) if main_pid else None


def unit_state(units: list[str]) -> dict[str, dict[str, object]]:
    props = ["--property=ControlGroup", "--property=NRestarts", "--property=ActiveState", "--property=MainPID"]
    out: dict[str, dict[str, object]] = {}
    for unit in units:
        shown = subprocess.run(["systemctl", "show", *props, unit], capture_output=True, text=True).stdout
        fields = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        rss = unit_rss(fields.get("ControlGroup", ""), int(fields.get("MainPID") or 0))
        out[unit] = {
            "rss": rss,
            "restarts": int(fields.get("NRestarts") or 0),
            "active": fields.get("ActiveState") == "active",
            "pid": int(fields.get("MainPID") or 0),
        }
    return out


def main() -> None:
    from horus.observability import registry

    duration, units = float(sys.argv[1]), sys.argv[2:]
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < duration:
        line = {"t": round(time.monotonic() - start, 3), "units": unit_state(units), "nodes": registry.snapshot()}
        print(json.dumps(line), flush=True)
        tick += 1
        time.sleep(max(0.0, start + tick - time.monotonic()))


main()
