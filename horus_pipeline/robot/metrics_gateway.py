"""The robot's metrics gateway: /metrics and /health on its network address, over TLS, for callers
that authenticate. Standard library only; it ships in every release (the tool layer, beside
assemble.py) and runs as its own unit (contract.Layout.metrics_unit) when the inventory sets
horus_robot_metrics_listen:

    python3 -I metrics_gateway.py --listen 0.0.0.0:9469 --upstream 127.0.0.1:8080

Why a process of its own rather than the node process's endpoint on the network: the nodes keep
listening on loopback only (their units reach nothing else), the TLS key and the credentials are
readable by this unit alone (systemd credentials: $CREDENTIALS_DIRECTORY holds tls.crt, tls.key,
auth.json), and it answers while the node process it fronts is down, which is what an alert needs:
every /metrics answer ends with `horus_health_endpoint_up` (0 when the node process serving the
robot's /health does not answer).

auth.json (written by the deploy from the inventory; auth_file() below):
    {"format": 1, "basic": {USER: {"salt": HEX, "iterations": N, "sha256": HEX}}, "bearer": [SHA256 HEX]}
Passwords are kept as PBKDF2-HMAC-SHA256, bearer tokens (long random strings) as their sha256.
Everything a client sends is untrusted: requests are bounded in size, time and number.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

AUTH_FORMAT = 1
PBKDF2_ITERATIONS = 60_000
# Connections served at once (one thread each); more are closed at once, unanswered.
MAX_CLIENTS = 16
# Seconds a client has for its TLS handshake and each read; a connection's whole life is cut at DEADLINE.
CLIENT_TIMEOUT = 5.0
DEADLINE = 10.0
# Seconds the node process's endpoint has to answer on loopback.
UPSTREAM_TIMEOUT = 5.0
# Bytes of an upstream answer passed on: /metrics of a big app is a few hundred KiB.
MAX_UPSTREAM = 16 << 20
PATHS = ("/metrics", "/health")
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UP_METRIC = "horus_health_endpoint_up"


class GatewayError(Exception):
    """The gateway cannot start: the message names the file or option and the fix."""


# ---------------------------------------------------------------- credentials


def _salt(app: str, user: str) -> bytes:
    """A salt of the app and the user: the same inventory gives the same file on every deploy (a deploy
    that changes nothing writes nothing), and no two users share one."""
    return hashlib.sha256(f"horus-metrics\0{app}\0{user}".encode()).digest()[:16]


def _pbkdf2(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


def auth_file(app: str, users: Mapping[str, str], tokens: Sequence[str]) -> str:
    """The auth.json text for basic-auth `users` (name: password) and bearer `tokens`: hashes only."""
    basic = {}
    for user, password in sorted(users.items()):
        salt = _salt(app, user)
        basic[user] = {
            "salt": salt.hex(),
            "iterations": PBKDF2_ITERATIONS,
            "sha256": _pbkdf2(password, salt, PBKDF2_ITERATIONS).hex(),
        }
    bearer = sorted({hashlib.sha256(t.encode()).hexdigest() for t in tokens})
    return json.dumps({"format": AUTH_FORMAT, "basic": basic, "bearer": bearer}, sort_keys=True, indent=1) + "\n"


class Credentials:
    """Who may read: checks an Authorization header against auth.json, in constant time per secret."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        if not isinstance(data, dict) or data.get("format") != AUTH_FORMAT:
            raise GatewayError(f"{where}: not an auth file of format {AUTH_FORMAT}: deploy again to write it")
        self.basic: dict[str, tuple[bytes, int, bytes]] = {}
        for user, entry in (data.get("basic") or {}).items():
            try:
                self.basic[user] = (
                    bytes.fromhex(entry["salt"]),
                    int(entry["iterations"]),
                    bytes.fromhex(entry["sha256"]),
                )
            except (KeyError, TypeError, ValueError):
                raise GatewayError(f"{where}: basic.{user} is malformed: deploy again to write it") from None
        self.bearer = [bytes.fromhex(h) for h in data.get("bearer") or []]
        if not self.basic and not self.bearer:
            raise GatewayError(f"{where}: names no user and no token: nobody could read the metrics")
        # Headers that passed, by their sha256: a scraper sends the same one every few seconds, and
        # PBKDF2 is meant to be slow. Whoever holds such a header holds the secret in it anyway.
        self._passed: set[bytes] = set()
        self._lock = threading.Lock()  # one PBKDF2 at a time: wrong passwords cannot take every core

    def allows(self, header: str | None) -> bool:
        if not header or len(header) > 4096:
            return False
        key = hashlib.sha256(header.encode("utf-8", "replace")).digest()
        if key in self._passed:
            return True
        scheme, _, value = header.partition(" ")
        ok = False
        if scheme.lower() == "bearer" and self.bearer:
            digest = hashlib.sha256(value.strip().encode("utf-8", "replace")).digest()
            ok = any(hmac.compare_digest(digest, h) for h in self.bearer)
        elif scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            entry = self.basic.get(user)
            if entry is not None:
                salt, iterations, want = entry
                with self._lock:
                    ok = hmac.compare_digest(_pbkdf2(password, salt, iterations), want)
        if ok:
            with self._lock:
                if len(self._passed) < 64:
                    self._passed.add(key)
        return ok


# ---------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s: %(explain)s\n"
    default_request_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        self.close_connection = True
        if not self.server.credentials.allows(self.headers.get("Authorization")):
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="horus", charset="UTF-8"')
            self._body(b"401 credentials required\n", "text/plain; charset=utf-8", head)
            return
        path = self.path.split("?", 1)[0]
        if path not in PATHS:
            self.send_error(HTTPStatus.NOT_FOUND, "try /metrics or /health")
            return
        status, ctype, body = self.server.upstream_answer(path)
        if path == "/metrics":
            up = int(status == HTTPStatus.OK)
            if not up:
                status, ctype, body = HTTPStatus.OK, METRICS_CONTENT_TYPE, b""
            help_line = "1 while the node process serving this robot's /health answers, else 0."
            body += f"# HELP {UP_METRIC} {help_line}\n# TYPE {UP_METRIC} gauge\n{UP_METRIC} {up}\n".encode()
        self.send_response(status)
        self._body(body, ctype, head)

    def _body(self, body: bytes, ctype: str, head: bool) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: a scrape every few seconds would fill the journal


class Gateway(socketserver.ThreadingMixIn, HTTPServer):
    """TLS and authentication in front of the node process's loopback endpoint."""

    daemon_threads = True
    request_queue_size = MAX_CLIENTS

    def __init__(
        self, listen: tuple[str, int], upstream: tuple[str, int], context: ssl.SSLContext, credentials: Credentials
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        self.upstream, self.context, self.credentials = upstream, context, credentials
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(listen, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: this one is refused, those served go on
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # The whole connection is cut at DEADLINE, however slowly its bytes drip in.
        cut = threading.Timer(DEADLINE, _shut, (request,))
        cut.daemon = True
        cut.start()
        try:
            request.settimeout(CLIENT_TIMEOUT)
            try:
                tls = self.context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                self.shutdown_request(request)
                return
            super().process_request_thread(tls, client_address)
        finally:
            cut.cancel()
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-answer is not news

    def upstream_answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of the node process's endpoint; 502 when it does not answer."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read(MAX_UPSTREAM + 1)
            if len(body) > MAX_UPSTREAM:
                raise OSError(f"answer over {MAX_UPSTREAM} bytes")
            return resp.status, resp.getheader("Content-Type") or "application/octet-stream", body
        except (OSError, http.client.HTTPException) as exc:
            why = f"the node process's endpoint {self.upstream[0]}:{self.upstream[1]} does not answer: {exc}\n"
            return HTTPStatus.BAD_GATEWAY, "text/plain; charset=utf-8", why.encode()
        finally:
            conn.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------- start


def address(text: str, option: str) -> tuple[str, int]:
    """HOST:PORT or [V6]:PORT as (host, port); the host an IP address."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not sep or not 1 <= number <= 65535:
        raise GatewayError(f"{option} {text!r}: give ADDRESS:PORT, e.g. 0.0.0.0:9469 or [::]:9469")
    return host, number


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise GatewayError(
            f"{cert}, {key}: no usable certificate and key ({exc}): deploy again to install them"
        ) from None
    return context


def load_credentials(path: str) -> Credentials:
    try:
        with open(path, encoding="utf-8") as f:
            return Credentials(json.load(f), path)
    except (OSError, ValueError) as exc:
        raise GatewayError(f"{path}: {exc}: deploy again to write it") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="metrics_gateway.py",
        description="Serve the robot's /metrics and /health on ADDRESS:PORT over TLS to callers with a password "
        "or bearer token, from the node process's endpoint on loopback. The deploy runs it as a unit when the "
        "inventory sets horus_robot_metrics_listen (see the README, Monitoring).",
    )
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT to serve on, e.g. 0.0.0.0:9469")
    parser.add_argument("--upstream", required=True, help="the node process's health endpoint, e.g. 127.0.0.1:8080")
    parser.add_argument(
        "--credentials",
        default=os.environ.get("CREDENTIALS_DIRECTORY", ""),
        help="directory holding tls.crt, tls.key and auth.json (default: $CREDENTIALS_DIRECTORY, set by systemd)",
    )
    args = parser.parse_args(argv)
    try:
        if not args.credentials:
            raise GatewayError("no --credentials directory and no $CREDENTIALS_DIRECTORY: run it from its unit")
        cred = args.credentials
        context = tls_context(os.path.join(cred, "tls.crt"), os.path.join(cred, "tls.key"))
        gateway = Gateway(address(args.listen, "--listen"), address(args.upstream, "--upstream"), context,
                          load_credentials(os.path.join(cred, "auth.json")))  # fmt: skip
    except (GatewayError, OSError) as exc:
        print(f"metrics_gateway: {exc}", file=sys.stderr)
        return 1
    print(f"metrics_gateway: serving /metrics and /health on {args.listen} (TLS, authenticated)", flush=True)
    gateway.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
