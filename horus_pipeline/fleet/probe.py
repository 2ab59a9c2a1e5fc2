"""What one robot says about itself, in one SSH round-trip. Standard library only.

The controller sends this file to the robot's system Python over SSH (`python3 - [--shm]`, the
source on stdin) and reads one JSON document from its stdout. Nothing here changes the robot.

It finds the apps the deploy role installed from the role's unit files (their first lines carry
`# horus_robot unit of app <app>`; ExecStart names the install prefix), so it needs no image spec
and sees what is really there. Per app:

    <prefix>/current -> releases/<id>     the running release (its link's mtime: when it was switched)
    <prefix>/previous, healthy, serial    the role's markers: the release before, the confirmed one (current
                                          and not healthy: pending), the newest serial the robot ran
    <prefix>/releases/<id>/MANIFEST.json  image, app, health endpoint

and asks systemd for each unit's state and NRestarts (automatic restarts since the deploy's
`reset-failed` + restart), the health endpoint for its HTTP status, `horus monitor --json` for
the nodes, the disk for free space and, with `--shm`, `horus clean --shm --dry-run` for stale
shared memory. A part that fails gives its error in the document instead of stopping the rest.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

UNIT_DIR = "/etc/systemd/system"
MARKER = re.compile(r"^# horus_robot unit of app (\S+)$", re.M)
EXEC = re.compile(r"^ExecStart=(\S+)/current/venv/bin/python ", re.M)
HORUS = "/usr/local/bin/horus"  # the role's wrapper: the current release's horus as the service user
MARKERS = ("previous", "healthy", "serial")
UNIT_PROPS = ("ActiveState", "SubState", "NRestarts", "ActiveEnterTimestamp")
COMMAND_TIMEOUT = 4.0  # seconds each robot-side command may take: the whole probe stays under the SSH timeout


def apps() -> dict[str, tuple[str, list[str]]]:
    """{app: (install prefix, [unit, ...])} from the unit files the role wrote."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(glob.glob(os.path.join(UNIT_DIR, "*.service"))):
        try:
            with open(path, encoding="utf-8") as f:
                head = f.read(16384)
        except OSError:
            continue
        marker, exec_start = MARKER.search(head), EXEC.search(head)
        if marker and exec_start:
            found.setdefault(marker.group(1), (exec_start.group(1), []))[1].append(os.path.basename(path))
    return found


def read_marker(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def release(prefix: str) -> dict[str, Any]:
    link = os.path.join(prefix, "current")
    out: dict[str, Any] = {name: read_marker(os.path.join(prefix, name)) for name in MARKERS}
    try:
        out["current"] = os.path.basename(os.readlink(link))
        out["switched_at"] = os.lstat(link).st_mtime
    except OSError:
        out["current"], out["switched_at"] = None, None
    try:
        with open(os.path.join(link, "MANIFEST.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        out["image"] = manifest.get("image")
        out["health"] = manifest.get("deploy", {}).get("health")
    except (OSError, ValueError) as exc:
        out["image"], out["health"] = None, None
        out["manifest_error"] = str(exc)
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


def horus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HORUS, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def monitor() -> dict[str, Any]:
    try:
        proc = horus("monitor", "--json")
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout).strip()[-500:] or f"exit {proc.returncode}"}
        return {"nodes": json.loads(proc.stdout)}
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}


def stale_shm() -> dict[str, Any]:
    """Segments `horus clean --shm` would remove: what no live process holds."""
    try:
        proc = horus("clean", "--shm", "--dry-run", "--all-namespaces")
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


def probe(shm: bool) -> dict[str, Any]:
    found = apps()
    doc: dict[str, Any] = {"hostname": socket.gethostname(), "time": time.time(), "apps": {}}
    for name, (prefix, names) in found.items():
        rel = part(release, prefix)
        doc["apps"][name] = {
            "prefix": prefix,
            "release": rel,
            "units": part(units, names),
            "health": part(health, rel.get("health")),
            "monitor": part(monitor),
            "journald": os.path.isfile(f"/etc/systemd/journald.conf.d/{name}.conf"),
        }
    # Free space where releases go (the first app's prefix), else on the root filesystem.
    target = next((prefix for prefix, _ in found.values() if os.path.isdir(prefix)), "/")
    usage = shutil.disk_usage(target)
    doc["disk"] = {"path": target, "free": usage.free, "total": usage.total}
    if shm:
        doc["shm"] = part(stale_shm)
    return doc


if __name__ == "__main__":
    json.dump(probe("--shm" in sys.argv[1:]), sys.stdout)
    sys.stdout.write("\n")
