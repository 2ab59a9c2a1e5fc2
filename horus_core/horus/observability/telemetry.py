"""Telemetry export, as upstream HORUS's ``Scheduler(telemetry=ENDPOINT)``: once a second (and
once more at stop) a JSON snapshot of the scheduler's metrics goes to the endpoint.

Endpoints, as upstream parses them: ``"stdout"`` (or ``"local"``); ``"udp://HOST:PORT"`` (one
datagram per snapshot); ``"http://..."`` or ``"https://..."`` (a POST; TLS through Python's ssl,
where upstream refuses https); ``"file://PATH"``, an absolute path, or any other string (the
file is replaced atomically with each snapshot). Exporting runs on a thread of its own, never
on the scheduler's: a slow collector costs snapshots, not ticks. A failing endpoint is logged
when it starts failing and when it recovers, not once a second.

A snapshot (upstream's fields): {"timestamp_secs", "scheduler_name", "uptime_secs", "metrics":
[{"name", "value": {"Counter": int} or {"Gauge": float}, "labels": {"node": ...}, "timestamp_secs"}]}
with scheduler_ticks, nodes_active, and per node (labelled) node_tick_count, node_errors,
node_deadline_misses and node_avg_duration_us; at stop also scheduler_shutdown = 1.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import log

INTERVAL_S = 1.0
HTTP_TIMEOUT_S = 2.0

# What the scheduler hands over each interval: its pass count and each node's stats snapshot.
Collect = Callable[[], tuple[int, dict[str, dict[str, Any]]]]


def metrics(ticks: int, nodes: dict[str, dict[str, Any]], now: int) -> list[dict[str, Any]]:
    def metric(name: str, kind: str, value: float, node: str | None = None) -> dict[str, Any]:
        labels = {"node": node} if node is not None else {}
        return {"name": name, "value": {kind: value}, "labels": labels, "timestamp_secs": now}

    out = [metric("scheduler_ticks", "Counter", ticks), metric("nodes_active", "Gauge", float(len(nodes)))]
    for name, stats in nodes.items():
        out += [
            metric("node_tick_count", "Counter", stats["total_ticks"], name),
            metric("node_errors", "Counter", stats["errors_count"], name),
            metric("node_deadline_misses", "Counter", stats["deadline_misses"], name),
            metric("node_avg_duration_us", "Gauge", stats["avg_tick_duration_ms"] * 1000.0, name),
        ]
    return out


class Telemetry:
    """Exports a scheduler's snapshots to one endpoint from a background thread."""

    def __init__(self, endpoint: str, scheduler: str, collect: Collect) -> None:
        self.send = _sender(endpoint)
        self.endpoint, self.scheduler, self._collect = endpoint, scheduler, collect
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"horus-telemetry-{scheduler}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self.export()

    def export(self, final: bool = False) -> None:
        now = int(time.time())
        ticks, nodes = self._collect()
        rows = metrics(ticks, nodes, now)
        if final:
            rows.append({"name": "scheduler_shutdown", "value": {"Gauge": 1.0}, "labels": {}, "timestamp_secs": now})
        snapshot = {"timestamp_secs": now, "scheduler_name": self.scheduler,
                    "uptime_secs": time.monotonic() - self._started, "metrics": rows}  # fmt: skip
        try:
            self.send(json.dumps(snapshot).encode())
        except (OSError, ValueError) as exc:
            if not self._failing:
                log.emit(log.WARNING, self.scheduler, 0, f"telemetry to {self.endpoint} failed, retrying: {exc}")
            self._failing = True
            return
        if self._failing:
            log.emit(log.INFO, self.scheduler, 0, f"telemetry to {self.endpoint} works again")
        self._failing = False

    def close(self) -> None:
        """Stop the thread and send the last snapshot."""
        self._stop.set()
        self._thread.join()
        self.export(final=True)


def _sender(endpoint: str) -> Callable[[bytes], None]:
    if endpoint in ("stdout", "local"):
        return _to_stdout
    if endpoint.startswith("udp://"):
        host, _, port = endpoint.removeprefix("udp://").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"telemetry={endpoint!r}: a UDP endpoint is udp://HOST:PORT, e.g. udp://127.0.0.1:9999")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        address = (host.strip("[]"), int(port))

        def datagram(data: bytes) -> None:
            sock.sendto(data, address)

        return datagram
    if endpoint.startswith(("http://", "https://")):
        return lambda data: _post(endpoint, data)
    path = Path(endpoint.removeprefix("file://"))
    return lambda data: _replace(path, data)


def _to_stdout(data: bytes) -> None:
    sys.stdout.write(f"[TELEMETRY] {data.decode()}\n")
    sys.stdout.flush()


def _post(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        response.read()


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
