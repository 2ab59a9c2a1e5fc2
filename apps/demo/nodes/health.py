"""The health endpoint: horus.serve_health when the runtime has it, else a minimal stand-in."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import horus

PATH = "/health"


def serve_health(sched: horus.Scheduler, host: str, port: int) -> Any:
    runtime = getattr(horus, "serve_health", None)
    if runtime is not None:
        return runtime(sched, host=host, port=port)
    return _serve(sched, host, port)


def _serve(sched: horus.Scheduler, host: str, port: int) -> ThreadingHTTPServer:
    # Stand-in until the runtime's horus.serve_health lands: 200 while every node is healthy.
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != PATH:
                self.send_error(404)
                return
            safety = sched.safety_stats()
            healthy = safety["state"] == "running" and all(
                h in ("healthy", "warning") for h in safety["nodes"].values()
            )
            body = json.dumps({"healthy": healthy, "safety": safety, "nodes": sched.get_all_node_stats()})
            self.send_response(200 if healthy else 503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
