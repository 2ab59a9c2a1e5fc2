"""A real Prometheus (Debian's), configured by monitoring/prometheus/prometheus.yml, scrapes a real
runtime on this host through the targets file `nox -s fleet -- --prometheus-targets` wrote, with the
fleet's labels, and raises the node-not-healthy alert for a node that is missing. No robot is booted:
the robot is an inventory entry at 127.0.0.1 whose image's health port is the runtime's."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from horus_testing import write_release

from horus_pipeline.fleet.cli import main as fleet

CONFIG = Path(__file__).parents[2] / "monitoring" / "prometheus" / "prometheus.yml"


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def wait_for(self, what: str, found: Callable[[], Any], timeout: float = 120) -> Any:
        """`found()` once it is truthy; Prometheus scrapes and evaluates every second here."""
        deadline = time.monotonic() + timeout
        while not (result := found()):
            assert self.proc.poll() is None, f"prometheus exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no {what} after {timeout:g}s: {self.log.read_text()[-2000:]}"
            time.sleep(0.5)
        return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(
    tmp_path: Path, runtime_port: int, prometheus_tools: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Prometheus, str]]:
    """Prometheus with the repository's configuration and rules, its targets written by `nox -s fleet`
    for an inventory of one robot; and the release the targets name."""
    bundles, inventory, targets = tmp_path / "bundles", tmp_path / "inventory.yml", tmp_path / "targets.json"
    release = write_release(bundles, "demo-amd64", runtime_port)
    inventory.write_text(
        "robots:\n  hosts:\n    bench-1:\n      ansible_host: 127.0.0.1\n      horus_image: demo-amd64\n"
    )
    assert fleet(["-i", str(inventory), "--bundles", str(bundles), "--prometheus-targets", str(targets)]) == 0
    capsys.readouterr()

    config = yaml.safe_load(CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}  # the test's pace, not a fleet's
    config["rule_files"] = [str(CONFIG.with_name(name)) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["file_sd_configs"] = [{"files": [str(targets)]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    address, log = f"127.0.0.1:{free_port()}", tmp_path / "prometheus.log"
    argv = [prometheus_tools[1], f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address={address}",
            f"--storage.tsdb.path={tmp_path / 'data'}"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Prometheus(f"http://{address}", proc, log), release
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_prometheus_scrapes_the_targets_file_and_alerts_on_a_missing_node(
    prometheus: tuple[Prometheus, str], runtime_port: int
) -> None:
    server, release = prometheus

    def series(query: str) -> list[dict[str, Any]]:
        try:
            return list(server.api("query", query=query)["result"])
        except OSError:  # not listening yet
            return []

    (info,) = server.wait_for("scrape of the runtime", lambda: series("horus_release_info"))
    assert info["metric"] == {
        "__name__": "horus_release_info", "job": "horus", "instance": f"127.0.0.1:{runtime_port}",
        "robot": "bench-1", "image": "demo-amd64", "app": "demo", "release": release,
    }  # fmt: skip  # running_release is '' on the host: Prometheus drops an empty label
    assert [s["value"][1] for s in series('up{job="horus", robot="bench-1"}')] == ["1"]

    groups = server.wait_for(
        "evaluated rules",
        lambda: [g for g in server.api("rules")["groups"] if all(r.get("health") == "ok" for r in g["rules"])],
    )
    shipped = yaml.safe_load(CONFIG.with_name("horus-rules.yml").read_text())["groups"]
    assert {r["name"] for g in groups for r in g["rules"]} == {r["alert"] for g in shipped for r in g["rules"]}

    def firing() -> list[dict[str, Any]]:
        return [a for a in server.api("alerts")["alerts"] if a["state"] == "firing"]

    (alert,) = server.wait_for("HorusNodeNotHealthy firing", firing)  # after its `for: 30s`
    assert alert["labels"]["alertname"] == "HorusNodeNotHealthy"
    assert (alert["labels"]["node"], alert["labels"]["state"], alert["labels"]["robot"]) == (
        "safety",
        "missing",
        "bench-1",
    )
