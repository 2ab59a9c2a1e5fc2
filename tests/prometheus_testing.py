"""A real Prometheus (Debian's) for the tests: started with a configuration made from the
repository's monitoring/prometheus/prometheus.yml, asked through its HTTP API, stopped however the
test ends."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from horus_testing import require_host_packages

from horus_pipeline.sim.prereqs import MONITORING_PACKAGES

CONFIG = Path(__file__).parents[1] / "monitoring" / "prometheus" / "prometheus.yml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_tools() -> tuple[str, str]:
    """(promtool, prometheus): Debian's prometheus package, installed when missing."""
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        require_host_packages(MONITORING_PACKAGES, "promtool and prometheus (Debian's prometheus package)")
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    assert promtool and prometheus, f"{MONITORING_PACKAGES} installed, yet promtool or prometheus is not on PATH"
    return promtool, prometheus


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def series(self, query: str) -> list[dict[str, Any]]:
        """The instant vector of `query`; empty while Prometheus is not answering yet."""
        try:
            return list(self.api("query", query=query)["result"])
        except OSError:
            return []

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.api("alerts")["alerts"] if a["state"] == "firing"]

    def wait_for(self, what: str, found: Callable[[], Any], timeout: float = 120) -> Any:
        """`found()` once it is truthy."""
        deadline = time.monotonic() + timeout
        while not (result := found()):
            assert self.proc.poll() is None, f"prometheus exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no {what} after {timeout:g}s: {self.log.read_text()[-2000:]}"
            time.sleep(0.5)
        return result


@contextmanager
def running_prometheus(tmp: Path, targets: Path, **job: Any) -> Iterator[Prometheus]:
    """Prometheus with the repository's configuration and rules at a test's pace (scrape and evaluate
    every second), its one job's targets read from `targets`, `job` replacing keys of that job."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(CONFIG.with_name(name)) for name in config["rule_files"]]
    (scrape,) = config["scrape_configs"]
    scrape["file_sd_configs"] = [{"files": [str(targets)]}]
    scrape.update(job)
    config["scrape_configs"] = [{k: v for k, v in scrape.items() if v is not None}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    address, log = f"127.0.0.1:{free_port()}", tmp / "prometheus.log"
    argv = [prometheus_tools()[1], f"--config.file={tmp / 'prometheus.yml'}", f"--web.listen-address={address}",
            f"--storage.tsdb.path={tmp / 'data'}"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Prometheus(f"http://{address}", proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
