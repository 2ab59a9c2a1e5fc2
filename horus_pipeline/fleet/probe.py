"""What one robot says about itself, in one SSH round-trip. Standard library only.

The controller sends this file to the robot's system Python over SSH (`python3 - --apps DIR
--budget SECONDS [--shm]`, the source on stdin) and reads one JSON document from its stdout, which
comes within the budget whatever the robot's load: a part not done by then is named as timed out.
Nothing here changes the robot.

It finds the apps a deploy installed from their index files in DIR (one JSON file per app, written
by every deploy from the robot contract, horus_pipeline/robot/contract.py, which gives the
controller the directory to pass), so it needs no image spec, parses no unit file, and sees Python and compiled
services alike. Per app the index names the install prefix, the units, the markers (previous,
healthy, serial: current and not healthy is pending), `current` and the health endpoint; the
probe asks systemd for each unit's state and NRestarts (automatic restarts since the deploy's
`reset-failed` + restart), the health endpoint for its HTTP status, `horus monitor --json` for
the nodes, `horus updates --json` for update holds, the disk for free space and, with `--shm`,
`horus clean --shm --dry-run` for stale shared memory. A part that fails gives its error in the
document instead of stopping the rest.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

UNIT_PROPS = ("ActiveState", "SubState", "NRestarts", "ActiveEnterTimestamp")
COMMAND_TIMEOUT = 4.0  # seconds each robot-side command may take: the whole probe stays under the SSH timeout


def apps(directory: str) -> dict[str, dict[str, Any]]:
    """{app: its index} from the index files a deploy wrote."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)
            found[str(entry["app"])] = entry
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def read_marker(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def release(entry: dict[str, Any]) -> dict[str, Any]:
    link = entry["current"]
    out: dict[str, Any] = {name: read_marker(path) for name, path in entry["markers"].items()}
    try:
        out["current"] = os.path.basename(os.readlink(link))
        out["switched_at"] = os.lstat(link).st_mtime
    except OSError:
        out["current"], out["switched_at"] = None, None
    try:
        with open(entry["manifest"], encoding="utf-8") as f:
            out["image"] = json.load(f).get("image")
    except (OSError, ValueError) as exc:
        out["image"] = None
        out["manifest_error"] = str(exc)
    out["health"] = entry.get("health")
    return out


def units(names: list[str]) -> dict[str, dict[str, str]]:
    """systemctl show for every unit at once: one process, however many units."""
    argv = ["systemctl", "show", "--property=Id," + ",".join(UNIT_PROPS), "--", *names]
    text = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
    result: dict[str, dict[str, str]] = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            result[props.pop("Id")] = props
    return result


def health(endpoint: dict[str, Any] | None) -> dict[str, Any]:
    if not endpoint:
        return {"status": None, "error": "the release names no health endpoint"}
    url = "http://{host}:{port}{path}".format(**endpoint)
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return {"url": url, "status": resp.status}
    except urllib.error.HTTPError as exc:
        return {"url": url, "status": exc.code}
    except OSError as exc:
        return {"url": url, "status": None, "error": str(getattr(exc, "reason", exc))}


def horus(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def monitor(command: str) -> dict[str, Any]:
    try:
        proc = horus(command, "monitor", "--json")
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout).strip()[-500:] or f"exit {proc.returncode}"}
        return {"nodes": json.loads(proc.stdout)}
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}


def holds(command: str, directory: str | None) -> dict[str, Any]:
    """The app's live update holds, as its runtime lists them (`horus updates --json`); none without
    starting the runtime when its holds directory is empty (seconds saved on a small robot)."""
    if directory is not None and not _any_entry(directory):
        return {"holds": []}
    proc = horus(command, "updates", "--json")
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip()[-300:] or f"exit {proc.returncode}"}
    return {"holds": json.loads(proc.stdout)}


def _any_entry(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return next(entries, None) is not None
    except OSError:
        return False


def stale_shm(command: str) -> dict[str, Any]:
    """Segments `horus clean --shm` would remove: what no live process holds."""
    try:
        proc = horus(command, "clean", "--shm", "--dry-run", "--all-namespaces")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    stale = [line for line in proc.stdout.splitlines() if line.startswith("would remove /")]
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip()[-500:], "stale": stale}
    return {"stale": stale}


def part(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """One part of the document: its result, or its error (a broken part never hides the others)."""
    try:
        return fn(*args)
    except Exception as exc:  # reported in the document, per part
        return {"error": f"{type(exc).__name__}: {exc}"}


def probe(directory: str, shm: bool, budget: float) -> dict[str, Any]:
    """The document, within `budget` seconds of the probe's start: every part is asked side by side
    (the runtime's answers start an interpreter each, seconds under emulation), and a part still
    running then is named as timed out, so a slow robot still answers and says what was slow."""
    deadline = time.monotonic() + budget
    found = apps(directory)
    doc: dict[str, Any] = {"hostname": socket.gethostname(), "time": time.time(), "apps": {}}
    pool = ThreadPoolExecutor(max_workers=8)
    asked: dict[tuple[str, ...], Future[dict[str, Any]]] = {}
    for name, entry in found.items():
        doc["apps"][name] = {"prefix": entry["prefix"], "journald": os.path.isfile(entry["journald"])}
        asked[(name, "release")] = pool.submit(part, release, entry)
        asked[(name, "units")] = pool.submit(part, units, list(entry["units"]))
        asked[(name, "health")] = pool.submit(part, health, entry.get("health"))
        asked[(name, "monitor")] = pool.submit(part, monitor, entry["horus"])
        asked[(name, "holds")] = pool.submit(part, holds, entry["horus"], entry.get("holds"))
    if shm and found:
        asked[("shm",)] = pool.submit(part, stale_shm, next(iter(found.values()))["horus"])
    wait(asked.values(), timeout=max(0.0, deadline - time.monotonic()))
    late = {"error": f"timed out after {budget:g}s on the robot (a slow or busy robot: give a longer --timeout)"}
    for key, future in asked.items():
        answer = future.result() if future.done() else late
        if key == ("shm",):
            doc["shm"] = answer
        else:
            doc["apps"][key[0]][key[1]] = answer
    pool.shutdown(wait=False, cancel_futures=True)
    # Free space where releases go (the first app's prefix), else on the root filesystem.
    target = next((e["prefix"] for e in found.values() if os.path.isdir(e["prefix"])), "/")
    usage = shutil.disk_usage(target)
    doc["disk"] = {"path": target, "free": usage.free, "total": usage.total}
    return doc


if __name__ == "__main__":
    args = sys.argv[1:]
    budget = float(args[args.index("--budget") + 1]) if "--budget" in args else 5.0
    json.dump(probe(args[args.index("--apps") + 1], "--shm" in args, budget), sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    os._exit(0)  # not waiting for a part that ran out of time (its command ends by its own timeout)
