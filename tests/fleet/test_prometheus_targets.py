"""`nox -s fleet -- -i INV --prometheus-targets FILE` on a written inventory and bundles: no robot asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from horus_testing import write_release

from horus_pipeline.fleet.cli import main

INVENTORY = """\
robots:
  hosts:
    nuc-01:
      ansible_host: 10.20.0.11
      horus_image: demo-amd64
    nuc-02:
      ansible_host: nuc-02.lab.example
      horus_image: demo-amd64
    jetson-01:
      ansible_host: fd00::21
      horus_image: demo-arm64
"""


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY)
    return inventory, tmp_path / "bundles"


def targets(
    fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, Any]] | None, str]:
    inventory, bundles = fleet
    out = inventory.with_name("targets.json")
    code = main(["-i", str(inventory), "--bundles", str(bundles), "--prometheus-targets", str(out), *extra])
    said = capsys.readouterr()
    return code, json.loads(out.read_text()) if out.exists() else None, said.out + said.err


def test_every_robot_is_a_target_at_its_images_metrics_port_labelled_with_its_release(
    fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, bundles = fleet
    amd = write_release(bundles, "demo-amd64", 8080)
    arm = write_release(bundles, "demo-arm64", 9100, host="0.0.0.0")
    code, groups, said = targets(fleet, capsys)
    assert code == 0 and "3 robot(s)" in said
    labels = {"app": "demo", "image": "demo-amd64", "release": amd}
    assert groups == [
        {"targets": ["10.20.0.11:8080"], "labels": {**labels, "robot": "nuc-01"}},
        {"targets": ["nuc-02.lab.example:8080"], "labels": {**labels, "robot": "nuc-02"}},
        {
            "targets": ["[fd00::21]:9100"],
            "labels": {**labels, "robot": "jetson-01", "image": "demo-arm64", "release": arm},
        },
    ]
    # The operator is told which robots a remote Prometheus cannot reach yet.
    assert "demo-amd64 serve /metrics on their loopback only" in said and "horus_robot_metrics_listen" in said


def test_a_robot_with_a_metrics_gateway_is_scraped_there_over_https(
    fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, bundles = fleet
    inventory.write_text(INVENTORY.replace("      horus_image: demo-amd64\n", "      horus_image: demo-amd64\n"
                                           "      horus_robot_metrics_listen: 0.0.0.0:9469\n"))  # fmt: skip
    write_release(bundles, "demo-amd64", 8080)
    write_release(bundles, "demo-arm64", 8080)
    code, groups, said = targets(fleet, capsys)
    assert code == 0 and groups is not None
    assert [(g["targets"], g["labels"].get("__scheme__")) for g in groups] == [
        (["10.20.0.11:9469"], "https"),
        (["nuc-02.lab.example:9469"], "https"),
        (["[fd00::21]:8080"], None),
    ]
    # Only the robots without a gateway are left on their loopback.
    assert "demo-arm64 serve /metrics on their loopback only" in said and "demo-amd64" not in said.split("Note")[1]


def test_limit_and_release_choose_the_robots_and_the_release(
    fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, bundles = fleet
    write_release(bundles, "demo-amd64", 8080)
    older = write_release(bundles, "demo-amd64", 8081, latest=False)
    code, groups, _ = targets(fleet, capsys, "--limit", "nuc-*", "--release", older)
    assert code == 0 and groups is not None
    assert [(g["labels"]["robot"], g["labels"]["release"], g["targets"]) for g in groups] == [
        ("nuc-01", older, ["10.20.0.11:8081"]),
        ("nuc-02", older, ["nuc-02.lab.example:8081"]),
    ]


def test_a_robot_without_image_or_an_image_without_bundle_names_what_to_fix_and_writes_nothing(
    fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, bundles = fleet
    write_release(bundles, "demo-amd64", 8080)
    code, groups, said = targets(fleet, capsys)  # demo-arm64 was never built
    assert code == 1 and groups is None
    assert f"{bundles}/demo-arm64/latest: missing" in said and "nox -s build -- demo-arm64" in said

    inventory.write_text(INVENTORY.replace("      horus_image: demo-arm64\n", ""))
    code, groups, said = targets(fleet, capsys)
    assert code == 1 and groups is None
    assert f"{inventory}: robot jetson-01 has no horus_image" in said and "images/<name>.toml" in said


def test_an_existing_file_is_replaced_whole(fleet: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    inventory, bundles = fleet
    write_release(bundles, "demo-amd64", 8080)
    write_release(bundles, "demo-arm64", 8080)
    out = inventory.with_name("targets.json")
    out.write_text("[" + "{}," * 10000 + "{}]")  # longer than what replaces it
    code, groups, _ = targets(fleet, capsys)
    assert code == 0 and groups is not None and len(groups) == 3
    assert [p.name for p in out.parent.iterdir() if p.name.startswith("targets")] == ["targets.json"]
