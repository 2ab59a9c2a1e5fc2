"""monitoring/prometheus/: the alerting rules and the example configuration pass promtool, and
horus-rules.test.yml makes every alert both fire and stay quiet."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from promql import names

PROMETHEUS = Path(__file__).parents[2] / "monitoring" / "prometheus"


def promtool_says(promtool: str, *args: str) -> str:
    proc = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def alerts() -> dict[str, str]:
    """{alert name: expression} of horus-rules.yml."""
    rules = yaml.safe_load((PROMETHEUS / "horus-rules.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def test_rules_and_configuration_are_valid(promtool: str) -> None:
    assert f"SUCCESS: {len(alerts())} rules found" in promtool_says(promtool, "check", "rules", "horus-rules.yml")
    assert "SUCCESS: 1 rule files found" in promtool_says(promtool, "check", "config", "prometheus.yml")


def test_every_alert_fires_for_the_robot_that_deserves_it_and_not_otherwise(promtool: str) -> None:
    assert "SUCCESS" in promtool_says(promtool, "test", "rules", "horus-rules.test.yml")
    cases = yaml.safe_load((PROMETHEUS / "horus-rules.test.yml").read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for alert in alerts():
        seen = [bool(check["exp_alerts"]) for check in checks if check["alertname"] == alert]
        assert True in seen and False in seen, f"{alert}: tested neither firing nor quiet, or only one of both"


def test_the_issue_asks_for_these_alerts() -> None:
    wanted = {
        "a node not healthy": "horus_node_health",
        "deadline misses per second": "horus_node_deadline_misses_total",
        "restarts": "horus_node_restarts_total",
        "release drift within one image": "horus_release_info",
        "disk free low": "horus_disk_free_bytes",
        "scrape down": "up",
    }
    used = {metric for expr in alerts().values() for metric in names(expr)[0]}
    assert not {why for why, metric in wanted.items() if metric not in used}
