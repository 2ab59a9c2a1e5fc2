"""`horus fleet --prometheus-targets FILE`: the inventory's robots as Prometheus `file_sd` targets.

Nothing is asked of the robots: each robot's address is its inventory's ansible_host, its port the
metrics gateway's (horus_robot_metrics_listen: HTTPS, the target says so with `__scheme__`) or else
the health port of the release a deploy gives its image (the signed manifest's deploy data, which
the robot's units are started with), and its labels say what the inventory and the bundles know:
robot, image, app, release. What a robot really runs it says itself, in /metrics
(`horus_release_info{running_release=...}`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..bundle.release import read_manifest
from ..determinism import write_atomic
from ..errors import PipelineError
from .inventory import Host, InventoryError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The labels every target carries (the alerting rules and the dashboard in monitoring/ rely on them).
LABELS = ("robot", "image", "app", "release")


def wanted_release(bundles: Path, image: str, release: str | None) -> str | None:
    """The release a deploy gives robots of `image`: `release`, else the image's newest bundle
    (BUNDLES/<image>/latest); None when neither says."""
    latest = bundles / image / "latest"
    return release or (latest.read_text().strip() if latest.is_file() else None)


def _address(host: str, port: int) -> str:
    try:
        bracket = ipaddress.ip_address(host).version == 6
    except ValueError:  # a host name
        bracket = False
    return f"[{host}]:{port}" if bracket else f"{host}:{port}"


def scrape_targets(
    inventory: Path, hosts: Sequence[Host], bundles: Path, release: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(one file_sd target group per robot, the images whose endpoint listens on loopback only and
    whose robots have no metrics gateway)."""
    groups: list[dict[str, Any]] = []
    loopback: list[str] = []
    deploys: dict[str, tuple[str, dict[str, Any]]] = {}  # image: (release, its deploy data), read once
    for h in hosts:
        if not h.image:
            raise InventoryError(
                f"{inventory}: robot {h.name} has no horus_image: set it to the image the robot runs "
                "(images/<name>.toml), as ansible/deploy.yml needs it too"
            )
        if h.image not in deploys:
            deploys[h.image] = _deploy(bundles, h.image, release)
        rid, deploy = deploys[h.image]
        labels = dict(zip(LABELS, (h.name, h.image, deploy["app"], rid), strict=True))
        if h.metrics_listen:
            port = _gateway_port(inventory, h)
            groups.append({"targets": [_address(h.address, port)], "labels": {**labels, "__scheme__": "https"}})
            continue
        if deploy["health"]["host"] in LOOPBACK and h.image not in loopback:
            loopback.append(h.image)
        groups.append({"targets": [_address(h.address, int(deploy["health"]["port"]))], "labels": labels})
    return groups, loopback


def _gateway_port(inventory: Path, h: Host) -> int:
    port = h.metrics_listen.rpartition(":")[2]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InventoryError(
            f"{inventory}: robot {h.name} has horus_robot_metrics_listen {h.metrics_listen!r}: give ADDRESS:PORT "
            "with the port written out, e.g. 0.0.0.0:9469"
        )
    return int(port)


def _deploy(bundles: Path, image: str, release: str | None) -> tuple[str, dict[str, Any]]:
    """(release id, deploy data) of the release a deploy gives `image`."""
    rid = wanted_release(bundles, image, release)
    if rid is None:
        raise PipelineError(
            f"{bundles / image / 'latest'}: missing, so the release of image {image} is unknown: build its "
            f"bundle (nox -s build -- {image}), give --bundles DIR where it was built, or --release ID"
        )
    path = bundles / image / "releases" / f"{rid}.json"
    if not path.is_file():
        raise PipelineError(
            f"{path}: no release {rid} of image {image} here: give a release listed in "
            f"{path.parent}, or build it (nox -s build -- {image})"
        )
    deploy = dict(read_manifest(path)).get("deploy")
    if not isinstance(deploy, dict) or not isinstance(deploy.get("health"), dict):
        raise PipelineError(f"{path}: predates deploy data (no deploy.health): rebuild it with nox -s build -- {image}")
    return rid, deploy


def write_targets(out: Path, inventory: Path, hosts: Sequence[Host], bundles: Path, release: str | None) -> str:
    """Write the targets to `out` atomically (Prometheus re-reads it on change and must never see half
    of it); the one-line report for the operator."""
    groups, loopback = scrape_targets(inventory, hosts, bundles, release)
    write_atomic(out, json.dumps(groups, indent=1, sort_keys=True) + "\n")
    said = f"{out}: {len(groups)} robot(s) as Prometheus file_sd targets"
    if loopback:
        said += (
            f". Note: robots of {', '.join(sorted(loopback))} serve /metrics on their loopback only (the "
            "image's [health] host): Prometheus on another machine sees them as down (up == 0) until the "
            "inventory sets horus_robot_metrics_listen for them (TLS and credentials: see the README, Monitoring)"
        )
    return said
