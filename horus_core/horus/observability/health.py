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
import io
import json
import os
import re
import selectors
import shutil
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import _core
from . import registry

if TYPE_CHECKING:
    from ..runtime.scheduler import Scheduler

# Seconds a client may take to send its request or read the answer before it is dropped.
CLIENT_TIMEOUT = 5.0
# A connection's whole life, however slowly its bytes drip in: then it is cut.
REQUEST_DEADLINE = 5.0
# Requests served at once; more complete requests wait for a thread. One thread each, so this bounds
# the threads (and the locked memory of a real-time process) that clients can make it spend.
MAX_CLIENTS = 8
# Seconds a connection may take to send a complete request head; then it is closed unanswered.
HEADER_TIMEOUT = 2.0
# Connections still sending their request head, held by the server's one loop (a socket and at
# most MAX_HEAD bytes each, no thread): at most MAX_WAITING in all and PEER_SHARE per client
# address. A new connection past either cap makes room by closing the oldest idle one (of that
# address, or of the address holding the most); see HealthServer for why.
MAX_WAITING = 64
PEER_SHARE = 16
# Seconds the kernel holds a new connection that has sent nothing before handing it to the loop
# (TCP_DEFER_ACCEPT; Linux rounds up to its SYN-ACK retransmissions: 1 s is one, at about 1 s). A
# client's grace to send its request before it can be evicted, at no cost to the caps above. Kept
# below HEADER_TIMEOUT: a silent connection is closed within GRACE_S + HEADER_TIMEOUT of its connect.
GRACE_S = 1
# Bytes of request line and headers; /health and /metrics need a few hundred. More: 414 or 431.
MAX_HEAD = 16384
_TOO_LONG = (HTTPStatus.REQUEST_URI_TOO_LONG, f"the request line is over {MAX_HEAD} bytes")
_TOO_LARGE = (HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"the request head is over {MAX_HEAD} bytes")
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
    `others`), the process's RSS, release and free disk, as Prometheus text."""
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
    # The release this process runs, for a fleet's drift alert. Its label is not `release`: Prometheus
    # targets written by `horus fleet --prometheus-targets` carry `release` (the release a deploy
    # gives), and a scraped label of the same name would be renamed `exported_release`.
    running_release = [("", {"running_release": RELEASE or ""}, 1.0)]
    help_text = "1, labelled with the release this process runs ('' outside a deployed release)."
    lines += _family("horus_release_info", "gauge", help_text, running_release)
    # Robots have no node_exporter: the free space the next deploy's layers need is served here.
    disk = shutil.disk_usage(sys.prefix)
    where = "on the filesystem of this process's release (its venv)"
    free_help = f"Bytes free to unprivileged users {where}."
    lines += _family("horus_disk_free_bytes", "gauge", free_help, [("", {}, disk.free)])
    lines += _family("horus_disk_size_bytes", "gauge", f"Size in bytes {where}.", [("", {}, disk.total)])
    return "\n".join(lines) + "\n"


def resident_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE_SIZE


# -- the server ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Answers one request whose head the server's loop has already read in full (`head`): its
    thread never waits for a client to send; it only writes the answer, within CLIENT_TIMEOUT."""

    server: HealthServer
    timeout = CLIENT_TIMEOUT  # a client that does not read its answer holds its thread, not for long
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s: %(explain)s\n"

    def __init__(self, request: socket.socket, client_address: Any, server: HealthServer, head: bytes) -> None:
        self._head = head
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = io.BytesIO(self._head)

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
        if len(self._head) > MAX_HEAD:  # the server's loop stopped reading there
            self._refuse(line, *(_TOO_LONG if b"\n" not in self._head else _TOO_LARGE))
            return False
        if len(line.split()) == 2:  # a bare "GET /path" is HTTP/0.9, which has no status codes
            self._refuse(line, HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported")
            return False
        return super().parse_request()

    def _refuse(self, line: str, status: HTTPStatus, why: str) -> None:
        self.command, self.requestline, self.request_version = "", line, self.default_request_version
        self.close_connection = True
        self.send_error(status, why)

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


# A request line http.server reads headers after; any other first line it answers at once (400,
# 405, ...), so the loop hands it over without waiting for headers that may never come.
_REQUEST_LINE = re.compile(rb"\S+ \S+ HTTP/\S+\r?\n")


def _head_complete(head: bytes) -> bool:
    """True once `head` holds what http.server needs to answer: the request line and, when that
    line asks for headers, the blank line that ends them."""
    end = head.find(b"\n")
    if end < 0:
        return False
    if not _REQUEST_LINE.fullmatch(head[: end + 1]):
        return True
    rest = head[end:]  # from the request line's own newline: a blank line is "\n\n" or "\n\r\n"
    return b"\n\n" in rest or b"\n\r\n" in rest


@dataclass
class _Waiting:
    """A connection whose request head is not complete yet."""

    peer: str
    address: Any
    idle_until: float  # HEADER_TIMEOUT after it was accepted
    cut_at: float  # REQUEST_DEADLINE after it was accepted
    head: bytes = field(default=b"")


class HealthServer(HTTPServer):
    """The server serve_health() returns: ``server_address`` is where it listens, ``shutdown()`` stops it.

    How it stays available to a client sending a complete request while others hold connections
    open and send nothing (issue 30): one loop (``serve_forever``, a thread) accepts connections and
    reads their request heads without blocking; only a connection whose head is complete gets one
    of MAX_CLIENTS threads, which then never waits on its client to send. Idle connections cost a
    socket each, are closed unanswered after HEADER_TIMEOUT, and are the ones dropped when the caps
    are reached: a new connection closes the oldest idle connection of its own address past
    PEER_SHARE, or of the address holding the most past MAX_WAITING, after one last read of it (a
    connection whose request has arrived is served, not dropped; only when MAX_WAITING complete
    requests already wait for a thread is a further one closed unanswered).

    Why a share per address and not per user: the endpoint listens on loopback, where every local
    client is 127.0.0.1. SO_PEERCRED names the peer's uid on Unix sockets only, and finding a TCP
    peer's uid (sock_diag, /proc/net/tcp) per connection costs more than it protects. So the share
    only separates remote clients (host="0.0.0.0"); between local users the guarantee is that idle
    connections go first and no thread waits on one: a client that connects and sends its request
    is answered at once however many idle connections another holds.

    Why the kernel holds new connections back (TCP_DEFER_ACCEPT, GRACE_S) rather than the loop: with
    every local client on one address, each connection a flood reopens evicts the oldest idle one, so
    a client descheduled between its connect() and its send() on a loaded machine was the oldest after
    PEER_SHARE reconnections and was closed unanswered (a CI flake; tests/security/test_health_flood.py
    now pauses a client 0.5 s to show it). A grace kept in the loop cannot fix that: when every
    waiting connection is in its grace, the newcomer must be refused, and a flood reconnecting as fast
    as slots free up then has real clients refused instead. Held back in the kernel, a client's
    connection reaches the loop with its request (served at once: it never waits in the caps), while
    a silent one costs the loop nothing for GRACE_S; partial requests are still evicted as above.
    """

    daemon_threads = True  # a stuck client never keeps the process alive
    # The kernel's queue of connections not yet accepted, which also holds the connections
    # TCP_DEFER_ACCEPT keeps back until their first bytes arrive (a few hundred bytes of kernel memory
    # each, none of ours): the bigger it is, the bigger a silent flood the kernel absorbs before new
    # connections come to us without data (SYN cookies; then they are evictable at once, as before).
    # Linux caps it at net.core.somaxconn (4096 by default).
    request_queue_size = 1024
    scheduler: Scheduler

    def __init__(self, scheduler: Scheduler, host: str, port: int, others: Sequence[str] = ()) -> None:
        self.scheduler = scheduler
        self.others = tuple(others)
        super().__init__((host, port), _Handler)  # type: ignore[arg-type]  # _Handler also takes the head
        self.socket.setblocking(False)
        # A connection is handed to accept() only once its first bytes arrive, or after GRACE_S:
        # see the class docstring for why eviction alone lost clients slow to send.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, GRACE_S)
        # Only the loop's thread touches these three.
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[socket.socket, _Waiting] = {}  # in the order accepted: oldest first
        self._ready: deque[tuple[socket.socket, Any, bytes, float]] = deque()  # complete, awaiting a thread
        # Shared with the serving threads, under _lock: the free threads, and each served connection's cut_at.
        self._lock = threading.Lock()
        self._free = MAX_CLIENTS
        self._serving: dict[socket.socket, float] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._closed = threading.Event()
        self._name = f"horus-health-{scheduler.name}"
        self._thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        """The loop: accept, read request heads, hand complete ones to threads, cut late clients."""
        self._selector.register(self.socket, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                for key, _ in self._selector.select(poll_interval):
                    if key.fileobj is self.socket:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        assert isinstance(key.fileobj, socket.socket)
                        self._read(key.fileobj)
                self._cut_late_clients(time.monotonic())
                self._dispatch()
        finally:
            for sock in list(self._waiting):
                self._drop(sock)
            while self._ready:
                self.shutdown_request(self._ready.popleft()[0])
            self._selector.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of file descriptors, say: free one, accept at the next turn
                if self._waiting:
                    self._drop(next(iter(self._waiting)))
                return
            sock.setblocking(False)
            peer = str(address[0])
            self._make_room(peer)
            now = time.monotonic()
            self._waiting[sock] = _Waiting(peer, address, now + HEADER_TIMEOUT, now + REQUEST_DEADLINE)
            self._selector.register(sock, selectors.EVENT_READ)
            self._read(sock)  # a client that sent its request with its connect is served at once

    def _make_room(self, peer: str) -> None:
        """Before a connection of `peer` joins the waiting ones: past a cap, close the oldest idle
        connection of `peer` (PEER_SHARE) or of the address holding the most (MAX_WAITING)."""
        counts = Counter(entry.peer for entry in self._waiting.values())
        if counts[peer] >= PEER_SHARE:
            victim_peer = peer
        elif len(self._waiting) >= MAX_WAITING:
            victim_peer = counts.most_common(1)[0][0]
        else:
            return
        oldest = next(sock for sock, entry in self._waiting.items() if entry.peer == victim_peer)
        self._read(oldest)  # its request may have arrived since the last turn: then it is served
        if oldest in self._waiting:
            self._drop(oldest)

    def _read(self, sock: socket.socket) -> None:
        entry = self._waiting.get(sock)
        if entry is None:  # dropped to make room earlier in the same turn
            return
        try:
            data = sock.recv(MAX_HEAD + 1 - len(entry.head))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(sock)
            return
        if not data:  # hung up without asking
            self._drop(sock)
            return
        entry.head += data
        if _head_complete(entry.head) or len(entry.head) > MAX_HEAD:  # too long: the handler says so
            if len(self._ready) >= MAX_WAITING:  # complete requests queue faster than threads answer
                self._drop(sock)
                return
            self._selector.unregister(sock)
            del self._waiting[sock]
            self._ready.append((sock, entry.address, entry.head, entry.cut_at))

    def _drop(self, sock: socket.socket) -> None:
        """Close a waiting connection unanswered."""
        self._selector.unregister(sock)
        del self._waiting[sock]
        with contextlib.suppress(OSError):
            sock.close()

    def _dispatch(self) -> None:
        """Give each complete request a thread while there are free ones; the rest wait their turn."""
        while self._ready:
            with self._lock:
                if not self._free:
                    return
                self._free -= 1
                sock, address, head, cut_at = self._ready.popleft()
                self._serving[sock] = cut_at
            thread = threading.Thread(
                target=self._serve_one, args=(sock, address, head), name=f"{self._name}-request", daemon=True
            )
            try:
                thread.start()
            except RuntimeError:  # no thread to be had: this client is refused, the others go on
                self._done(sock)

    def _serve_one(self, sock: socket.socket, address: Any, head: bytes) -> None:
        try:
            _Handler(sock, address, self, head)
        except Exception:
            self.handle_error(sock, address)
        finally:
            self._done(sock)

    def _done(self, sock: socket.socket) -> None:
        with self._lock:
            self._serving.pop(sock, None)
            self._free += 1
        self.shutdown_request(sock)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")  # the loop may have a request waiting for this thread

    def _cut_late_clients(self, now: float) -> None:
        """Close idle connections past HEADER_TIMEOUT; shut down served ones past REQUEST_DEADLINE
        (their blocked writes end, their threads exit)."""
        for sock in [s for s, entry in self._waiting.items() if entry.idle_until <= now]:
            self._drop(sock)
        with self._lock:
            late = [sock for sock, cut_at in self._serving.items() if cut_at <= now]
        for sock in late:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-answer is not news; never print tracebacks to stderr

    def shutdown(self) -> None:
        """Stop serving, close the listening socket and wait for the loop's thread."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._thread.is_alive():
            self._thread.join()
        self.server_close()
        self._wake_r.close()
        self._wake_w.close()


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
