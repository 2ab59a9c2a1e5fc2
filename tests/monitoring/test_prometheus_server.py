"""A real Prometheus (Debian's), configured by monitoring/prometheus/prometheus.yml, scrapes a real
runtime on this host through the targets file `nox -s fleet -- --prometheus-targets` wrote, with the
fleet's labels, and raises the node-not-healthy alert for a node that is missing. No robot is booted:
the robot is an inventory entry at 127.0.0.1 whose image's health port is the runtime's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from horus_testing import write_release
from prometheus_testing import CONFIG, Prometheus, running_prometheus

from horus_pipeline.fleet.cli import main as fleet


@pytest.fixture
def prometheus(
    tmp_path: Path, runtime_port: int, capsys: pytest.CaptureFixture[str]
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

    # A plain-HTTP target on loopback: no gateway's TLS or credentials.
    with running_prometheus(tmp_path, targets, tls_config=None, basic_auth=None) as server:
        yield server, release


@pytest.mark.slow
def test_prometheus_scrapes_the_targets_file_and_alerts_on_a_missing_node(
    prometheus: tuple[Prometheus, str], runtime_port: int
) -> None:
    server, release = prometheus
    series = server.series
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

    (alert,) = server.wait_for("HorusNodeNotHealthy firing", server.firing)  # after its `for: 30s`
    assert alert["labels"]["alertname"] == "HorusNodeNotHealthy"
    assert (alert["labels"]["node"], alert["labels"]["state"], alert["labels"]["robot"]) == (
        "safety",
        "missing",
        "bench-1",
    )
