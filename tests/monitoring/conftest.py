"""A real HORUS runtime serving /health and /metrics on a free loopback port, for the monitoring tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from prometheus_testing import prometheus_tools

# A robot's health process: a Python node, and a compiled node of another process that never
# started (its series, state "missing", exist only when the endpoint vouches for such nodes).
ROBOT = """
import horus
sched = horus.Scheduler(tick_rate=100, name="control")
sched.add(horus.Node(name="motor", tick=lambda n: None, rate=100))
server = horus.serve_health(sched, port=0, others=("safety",))
print(server.server_address[1], flush=True)
sched.run()
"""


@pytest.fixture(scope="module")
def runtime_port() -> Iterator[int]:
    """The port of a running scheduler's health endpoint, in a namespace of its own."""
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "HORUS_NAMESPACE": namespace}
    proc = subprocess.Popen(
        [sys.executable, "-c", ROBOT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"the runtime did not start: {proc.stderr.read()}"
        yield int(port)
        assert proc.poll() is None, f"the runtime died during the tests: {proc.stderr.read()}"
    finally:
        proc.kill()
        proc.communicate()
        shutil.rmtree(f"/dev/shm/horus.{namespace}", ignore_errors=True)


@pytest.fixture(scope="session")
def promtool() -> str:
    return prometheus_tools()[0]
