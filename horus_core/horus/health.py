"""A health and metrics endpoint for a running scheduler: ``horus.serve_health(sched)``.

``GET /health``  every node's stats as JSON; 200 while the scheduler runs and every
                 node is healthy (or only warning), 503 otherwise: what a load balancer,
                 fleet manager or ``curl -f`` needs.
``GET /metrics`` the Prometheus text exposition format 0.0.4.

The server runs on daemon threads beside the scheduler and only reads its stats, so a
request can cost a tick at most the few microseconds a stats lock is held. Every other
path, method or malformed request gets a 4xx; no access log is written (a scrape every
few seconds would flood the journal).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import _core, registry

if TYPE_CHECKING:
    from .scheduler import Scheduler

# Seconds a client may take to send its request or read the answer before it is dropped.
CLIENT_TIMEOUT = 5.0
# A connection's whole life, however slowly its bytes drip in: then it is cut.
REQUEST_DEADLINE = 5.0
# Connections served at once; more are closed at once. One thread each, so this bounds the
# threads (and the locked memory of a real-time process) that clients can make it spend.
MAX_CLIENTS = 8
HEALTHY = ("healthy", "warning")
# Seconds without a tick after which another process's node counts as gone (a hung or stopped
# process keeps its registry file until it exits).
STALE_S = 2.0
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# -- /health ------------------------------------------------------------------------------


def running_release(prefix: str = sys.prefix) -> str | None:
    """The id of the release this process runs, read once at start: a deployed venv is
    <app>/releases/<id>/venv, reached through <app>/current, which a later deploy re-points.
    None outside a deployed release (a laptop, a test)."""
    release = Path(os.path.realpath(prefix)).parent
    try:
        manifest = json.loads((release / "MANIFEST.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rid = manifest.get("id") if isinstance(manifest, dict) else None
    return rid if isinstance(rid, str) and rid == release.name else None


# Resolved at import, before anything can switch `current` under this process.
RELEASE = running_release()


def other_nodes(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stats of nodes of other processes (compiled nodes: horus_node.h) from the namespace's
    registry; a node that is not there, or has not ticked for STALE_S, is listed as "missing"."""
    live = {entry["node"]: entry for entry in registry.snapshot() if entry["pid"] != os.getpid()}
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        entry = live.get(name)
        fresh = entry is not None and entry["age_s"] is not None and entry["age_s"] <= STALE_S
        out[name] = entry if entry is not None and fresh else {"health": "missing", "stats": entry}
    return out


def health_report(scheduler: Scheduler, others: Iterable[str] = ()) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body): 200 only when the scheduler runs and no node is worse than "warning",
    the nodes of other processes named by `others` included.

    The body names the release this process runs, so a deploy's health gate can tell the new
    release's answer from an old process's (or another program's) on the same port."""
    nodes = {**scheduler.get_all_node_stats(), **other_nodes(others)}
    safety = scheduler.safety_stats()
    running = scheduler.is_running() and safety["state"] == "running"
    unhealthy = sorted(name for name, stats in nodes.items() if stats["health"] not in HEALTHY)
    ok = running and not unhealthy
    body = {
        "status": "ok" if ok else "unhealthy",
        "release": RELEASE,
        "scheduler": scheduler.name,
        "running": running,
        "unhealthy_nodes": unhealthy,
        "safety": safety,
        "nodes": nodes,
    }
    return (200 if ok else 503), body


# -- /metrics -----------------------------------------------------------------------------


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, dict[str, str], float]]) -> list[str]:
    """One metric family: HELP, TYPE, then ``name{labels} value`` per sample (suffix, labels, value)."""
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{suffix}{_labels(labels)} {_number(value)}" for suffix, labels, value in samples]
    return lines


# (metric, snapshot key, help): per-node counters straight from NodeStats.snapshot().
_COUNTERS = (
    ("horus_node_ticks_total", "total_ticks", "Ticks run (successful or not)."),
    ("horus_node_errors_total", "errors_count", "Exceptions raised by the node's init or tick."),
    ("horus_node_deadline_misses_total", "deadline_misses", "Ticks that ended after their deadline."),
    ("horus_node_budget_overruns_total", "budget_overruns", "Ticks that took longer than their budget."),
    ("horus_node_watchdog_expirations_total", "watchdog_expirations", "Ticks that ran past the watchdog."),
    ("horus_node_restarts_total", "restarts", "Restarts by the node's failure policy."),
)
_GAUGES = (
    ("horus_node_tick_duration_max_seconds", "max_tick_duration_ms", 1e-3, "Longest tick so far."),
    ("horus_node_tick_duration_last_seconds", "last_tick_duration_ms", 1e-3, "Duration of the latest tick."),
    ("horus_node_rate_hz", "actual_rate_hz", 1.0, "Achieved tick rate over the last 64 ticks."),
)


# The stats registry's names for what /metrics reads, where they differ from the scheduler's.
_REGISTRY_NAMES = {"avg_tick_ms": "avg_tick_duration_ms", "max_tick_ms": "max_tick_duration_ms",
                   "last_tick_ms": "last_tick_duration_ms"}  # fmt: skip


def _other_stats(others: Iterable[str]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Nodes of other processes (compiled nodes) as /metrics labels and stats. Their registry
    records no watchdog expirations or restarts, so those series are left out rather than zero;
    a missing node has only its health, "missing"."""
    out = []
    for name, entry in other_nodes(others).items():
        if entry["health"] == "missing":
            out.append(({"scheduler": "", "node": name}, {"health": "missing"}))
        else:
            stats = {_REGISTRY_NAMES.get(key, key): value for key, value in entry.items()}
            out.append(({"scheduler": entry["scheduler"], "node": name}, stats))
    return out


def metrics_text(scheduler: Scheduler, others: Iterable[str] = ()) -> str:
    """Every node's counters, tick durations and health (with the nodes of other processes named by
    `others`), and the process's RSS, as Prometheus text."""
    nodes = scheduler.get_all_node_stats()
    keyed = [({"scheduler": scheduler.name, "node": name}, stats) for name, stats in nodes.items()]
    keyed += _other_stats(others)
    lines: list[str] = []
    for metric, key, help_text in _COUNTERS:
        lines += _family(metric, "counter", help_text, [("", labels, s[key]) for labels, s in keyed if key in s])
    # A summary without quantiles: _sum and _count are what rate() needs for a mean over any window.
    durations = []
    for labels, s in keyed:
        if "total_ticks" in s:
            durations += [("_sum", labels, s["avg_tick_duration_ms"] * 1e-3 * s["total_ticks"])]
            durations += [("_count", labels, s["total_ticks"])]
    lines += _family("horus_node_tick_duration_seconds", "summary", "Time spent in tick.", durations)
    for metric, key, scale, help_text in _GAUGES:
        samples = [("", labels, s[key] * scale) for labels, s in keyed if key in s]
        lines += _family(metric, "gauge", help_text, samples)
    # One series per state, 1 for the current one (a state set), so alerts can match on the state.
    states = (*_core.HEALTHS, "missing") if others else _core.HEALTHS
    health = [("", {**labels, "state": st}, float(s["health"] == st)) for labels, s in keyed for st in states]
    lines += _family("horus_node_health", "gauge", "1 for the node's current health state.", health)
    running = float(scheduler.is_running() and scheduler.status() == "running")
    lines += _family("horus_scheduler_running", "gauge", "1 while the scheduler runs.", [("", {}, running)])
    rss: list[tuple[str, dict[str, str], float]] = [("", {}, resident_bytes())]
    lines += _family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss)
    return "\n".join(lines) + "\n"


def resident_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE_SIZE


# -- the server ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer
    timeout = CLIENT_TIMEOUT  # a client that stalls holds only its own thread, and not for long
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s: %(explain)s\n"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def __getattr__(self, name: str) -> Any:
        # http.server answers an unknown method with 501 (a server fault); it is the client's: 405.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self._body(b"405 only GET and HEAD\n", "text/plain; charset=utf-8", head=False, allow=True)

    # http.server assumes HTTP/0.9 until it has parsed a version, and answers 0.9 without a
    # status line: a garbled request line would get a bare body instead of a visible 400.
    default_request_version = "HTTP/1.0"

    def parse_request(self) -> bool:
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        if len(line.split()) == 2:  # a bare "GET /path" is HTTP/0.9, which has no status codes
            self.command, self.requestline, self.request_version = "", line, self.default_request_version
            self.close_connection = True
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported")
            return False
        return super().parse_request()

    def _answer(self, head: bool) -> None:
        try:
            path = urlsplit(self.path).path
            if path == "/health":
                status, report = health_report(self.server.scheduler, self.server.others)
                body, ctype = json.dumps(report, default=str).encode() + b"\n", "application/json"
            elif path == "/metrics":
                metrics = metrics_text(self.server.scheduler, self.server.others)
                status, body, ctype = 200, metrics.encode(), METRICS_CONTENT_TYPE
            else:
                self.send_error(HTTPStatus.NOT_FOUND, "try /health or /metrics")
                return
        except Exception as exc:  # whatever went wrong, it stays in this request
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
            return
        self.send_response(status)
        self._body(body, ctype, head)

    def _body(self, body: bytes, ctype: str, head: bool, allow: bool = False) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if allow:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: see the module docstring


class HealthServer(ThreadingHTTPServer):
    """The server serve_health() returns: ``server_address`` is where it listens, ``shutdown()`` stops it."""

    daemon_threads = True  # a stuck client never keeps the process alive
    scheduler: Scheduler

    def __init__(self, scheduler: Scheduler, host: str, port: int, others: Sequence[str] = ()) -> None:
        self.scheduler = scheduler
        self.others = tuple(others)
        super().__init__((host, port), _Handler)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        self._closed = threading.Event()
        name = f"horus-health-{scheduler.name}"
        self._thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)
        self._reaper = threading.Thread(target=self._cut_late_clients, name=f"{name}-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._reaper.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: this client is refused, the served ones go on
            return
        with self._deadlines_lock:
            self._deadlines[request] = time.monotonic() + REQUEST_DEADLINE
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(request, None)
        self._slots.release()

    def _cut_late_clients(self) -> None:
        """Shut down connections past their deadline: their blocked reads end, their threads exit."""
        while not self._closed.wait(0.2):
            now = time.monotonic()
            with self._deadlines_lock:
                late = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
            for sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-answer is not news; never print tracebacks to stderr

    def shutdown(self) -> None:
        """Stop serving, close the listening socket and wait for the serving threads."""
        super().shutdown()
        self._closed.set()
        self.server_close()
        self._thread.join()
        if self._reaper.is_alive():
            self._reaper.join()


def serve_health(
    scheduler: Scheduler, host: str | None = None, port: int | None = None, others: Sequence[str] = ()
) -> HealthServer:
    """Serve /health and /metrics for ``scheduler`` on a background thread; port 0 picks a free one.

    others: names of nodes of other processes of the namespace (compiled nodes, which serve no
    endpoint of their own) that /health vouches for too: each must be in the stats registry,
    ticking and healthy, or the answer is 503.

    Where: the arguments, else HORUS_HEALTH_HOST and HORUS_HEALTH_PORT (a deployed unit's
    environment holds the image's health settings, which the deploy's health gate asks),
    else 127.0.0.1:8080. Loopback by default: the stats name every node and its errors.
    Give host="0.0.0.0" to let a fleet manager or Prometheus on another machine scrape it.
    """
    host = host or os.environ.get("HORUS_HEALTH_HOST") or "127.0.0.1"
    if port is None:
        text = os.environ.get("HORUS_HEALTH_PORT") or "8080"
        if not text.isdigit() or not 0 <= int(text) <= 65535:
            raise ValueError(f"HORUS_HEALTH_PORT={text!r} is not a TCP port: set it to 0-65535 (0: any free port)")
        port = int(text)
    try:
        server = HealthServer(scheduler, host, port, others)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot serve health on {host}:{port}: {exc.strerror}; pick a free port (0: any)"
        ) from exc
    server.start()
    return server
