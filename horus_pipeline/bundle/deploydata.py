"""What a deploy needs from an image spec: `dist/bundles/<image>/deploy.json`, read by Ansible.

The release manifest says what to install; this file says how it runs on the robot: the
install prefix, the service user, one entry per node process (the role renders one systemd
unit per entry from its templates, the only source of unit text), journald retention and the
health endpoint. Ansible has no TOML reader in ansible.builtin, so the bundle step writes the
image spec's deploy part as JSON beside the releases:

    {"format": 1, "image": "demo-amd64", "app": "demo", "prefix": "/opt/demo",
     "user": "horus", "group": "horus",
     "services": [{"name": "control", "script": "control.py", "after": [], "restart_sec": 1.0,
                   "realtime": true, "watchdog_sec": 2.0, "type": "notify", "environment": {}}],
     "journald": {"system_max_use": "500M", "max_retention": "7d"},
     "health": {"host": "127.0.0.1", "port": 8080, "path": "/health"}}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypedDict

from ..determinism import publishing
from ..images import ImageSpec, all_images, load_image

FORMAT = 1
NAME = "deploy.json"


class DeployService(TypedDict):
    name: str
    script: str  # relative to the app directory
    after: list[str]
    restart_sec: float
    realtime: bool
    watchdog_sec: float | None
    type: Literal["notify", "simple"]
    environment: dict[str, str]


class DeployJournald(TypedDict):
    system_max_use: str
    max_retention: str


class DeployHealth(TypedDict):
    host: str
    port: int
    path: str


class DeployData(TypedDict):
    """`deploy.json`: what the writer (deploy_vars) promises and the role and tests rely on."""

    format: int
    image: str
    app: str
    prefix: str
    user: str
    group: str
    services: list[DeployService]
    journald: DeployJournald
    health: DeployHealth


def deploy_vars(spec: ImageSpec) -> DeployData:
    """The deploy part of an image spec, as plain JSON data (keys sorted when written)."""
    return {
        "format": FORMAT,
        "image": spec.name,
        "app": spec.app_name,
        "prefix": spec.prefix,
        "user": spec.user,
        "group": spec.group,
        "services": [
            {
                "name": s.name,
                "script": s.script,
                "after": list(s.after),
                "restart_sec": s.restart_sec,
                "realtime": s.realtime,
                "watchdog_sec": s.watchdog_sec,
                "type": s.type,
                "environment": dict(sorted(s.environment.items())),
            }
            for s in spec.services
        ],
        "journald": {"system_max_use": spec.journald.system_max_use, "max_retention": spec.journald.max_retention},
        "health": {"host": spec.health.host, "port": spec.health.port, "path": spec.health.path},
    }


def write_deploy_vars(spec: ImageSpec, image_dir: Path) -> Path:
    """Write `<image_dir>/deploy.json` (atomically, only when its content changes); return its path."""
    path = image_dir / NAME
    text = json.dumps(deploy_vars(spec), sort_keys=True, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        image_dir.mkdir(parents=True, exist_ok=True)
        with publishing(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m horus_pipeline.bundle.deploydata [IMAGE ...]`: print each image's deploy vars (a check by eye)."""
    names = list(sys.argv[1:] if argv is None else argv)
    specs = [load_image(n) for n in names] if names else all_images()
    for spec in specs:
        print(json.dumps(deploy_vars(spec), sort_keys=True, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
