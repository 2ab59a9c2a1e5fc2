"""Every metric and label the alerting rules and the Grafana dashboard of monitoring/ query is one a
real runtime's /metrics serves (or one Prometheus or the fleet's targets add): a query naming
anything else would show nothing, or never fire, on a real fleet."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from promql import names

from horus_pipeline.fleet.prometheus import LABELS
from horus_pipeline.robot.metrics_gateway import UP_METRIC

MONITORING = Path(__file__).parents[2] / "monitoring"
# What Prometheus adds to every scraped series and writes for every scrape.
PROMETHEUS_LABELS = {"job", "instance"}
PROMETHEUS_METRICS = {"up"}
# What a robot's metrics gateway adds to the runtime's /metrics (tests/monitoring/test_metrics_gateway.py).
GATEWAY_METRICS = {UP_METRIC}


@pytest.fixture(scope="module")
def served(runtime_port: int) -> tuple[set[str], set[str]]:
    """(metric names, label names) a running scheduler's /metrics serves, scraped over HTTP."""
    families = scrape(f"http://127.0.0.1:{runtime_port}/metrics")
    samples = [s for f in families for s in f.samples]
    return {f.name for f in families} | {s.name for s in samples}, {label for s in samples for label in s.labels}


def scrape(url: str) -> list[Metric]:
    """The metric families at `url` once its nodes have ticked (the counters are there from the start,
    but a scrape before the first tick is not what Prometheus sees of a running robot)."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(url, timeout=5) as resp:
            families = list(text_string_to_metric_families(resp.read().decode()))
        ticks = [s.value for f in families if f.name == "horus_node_ticks" for s in f.samples]
        if (ticks and all(ticks)) or time.monotonic() > deadline:
            return families
        time.sleep(0.05)


def rule_queries() -> dict[str, str]:
    rules = yaml.safe_load((MONITORING / "prometheus" / "horus-rules.yml").read_text())
    return {f"rule {r['alert']}": r["expr"] for group in rules["groups"] for r in group["rules"]}


# Grafana's label_values(metric{matchers}, label): not PromQL, the label is the last argument.
_LABEL_VALUES = re.compile(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")


def dashboard_queries() -> dict[str, str]:
    board = json.loads((MONITORING / "grafana" / "horus-fleet.json").read_text())
    found = {f"panel {p['title']!r} {t['refId']}": t["expr"] for p in board["panels"] for t in p.get("targets", [])}
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            match = _LABEL_VALUES.fullmatch(var["query"])
            assert match, f"variable {var['name']}: {var['query']!r} is not label_values(metric, label)"
            found[f"variable {var['name']}"] = f"count by ({match[2]}) ({match[1]})"
    return found


@pytest.mark.parametrize("where", ["rules", "dashboard"])
def test_every_query_names_what_the_runtime_serves(where: str, served: tuple[set[str], set[str]]) -> None:
    metrics, labels = served
    queries = rule_queries() if where == "rules" else dashboard_queries()
    assert queries
    unknown = {}
    for what, expr in queries.items():
        used_metrics, used_labels = names(expr)
        assert used_metrics, f"{what}: no metric found in {expr!r}"
        missing = (used_metrics - metrics - PROMETHEUS_METRICS - GATEWAY_METRICS) | (
            used_labels - labels - PROMETHEUS_LABELS - set(LABELS)
        )
        if missing:
            unknown[what] = sorted(missing)
    assert not unknown, f"not served by /metrics: {unknown}"


def test_the_dashboard_shows_per_node_what_the_issue_asks_for() -> None:
    used = {m for expr in dashboard_queries().values() for m in names(expr)[0]}
    wanted = {
        "tick rate": "horus_node_rate_hz",
        "budget use": "horus_node_tick_duration_seconds_sum",
        "misses": "horus_node_deadline_misses_total",
        "errors": "horus_node_errors_total",
        "RSS": "process_resident_memory_bytes",
        "release": "horus_release_info",
    }
    assert not {why for why, metric in wanted.items() if metric not in used}


def test_names_finds_metrics_and_labels_and_nothing_else() -> None:
    assert names('count by (image) (count by (image, running_release) (horus_release_info{job="horus"}))') == (
        {"horus_release_info"},
        {"image", "running_release", "job"},
    )
    assert names('rate(horus_node_errors_total{robot=~"$robot"}[$__rate_interval]) > 1e9 and on (robot) up') == (
        {"horus_node_errors_total", "up"},
        {"robot"},
    )
    assert names("horus_disk_free_bytes / horus_disk_size_bytes < 0.10") == (
        {"horus_disk_free_bytes", "horus_disk_size_bytes"},
        set(),
    )
