"""How a release runs on the robot: the `deploy` section of its (signed) release manifest.

The manifest's layers say what to install; this section says how it runs: the app's name, the
service user and group, one entry per node process (the role renders one systemd unit per entry
from its templates, the only source of unit text), journald retention and the health endpoint.
It is part of the manifest, so the release id and the signature cover it: nothing a robot obeys
comes from an unsigned side file, and a rollback runs the units of the release it goes back to.

    "deploy": {"app": "demo", "user": "horus", "group": "horus",
               "services": [{"name": "control", "script": "control.py", "native": "", "after": [], "restart_sec": 1.0,
                             "realtime": true, "watchdog_sec": 2.0, "type": "notify", "environment": {}}],
               "journald": {"system_max_use": "500M", "max_retention": "7d"},
               "health": {"host": "127.0.0.1", "port": 8080, "path": "/health"}}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Literal, TypedDict

from ..images import ImageSpec, all_images, load_image


class DeployService(TypedDict):
    name: str
    script: str  # relative to the app directory; "" for a compiled service
    native: str  # a compiled service's executable, relative to the release (native/<name>); else ""
    after: list[str]
    restart_sec: float
    realtime: bool
    watchdog_sec: float | None
    type: Literal["notify", "simple"]
    environment: dict[str, str]
    memory_max: str
    tasks_max: int
    ip_allow: list[str]


class DeployJournald(TypedDict):
    system_max_use: str
    max_retention: str


class DeployHealth(TypedDict):
    host: str
    port: int
    path: str


class DeployData(TypedDict):
    """The manifest's `deploy` section: what the writer (deploy_vars) promises and the role relies on."""

    app: str
    user: str
    group: str
    services: list[DeployService]
    journald: DeployJournald
    health: DeployHealth
    params: dict[str, object]  # horus.Params defaults of the image; the inventory may override per robot


def deploy_vars(spec: ImageSpec) -> DeployData:
    """The deploy part of an image spec, as plain JSON data (the image spec validated every value)."""
    return {
        "app": spec.app_name,
        "user": spec.user,
        "group": spec.group,
        "services": [
            {
                "name": s.name,
                "script": s.script,
                "native": f"native/{s.name}" if s.program else "",
                "after": list(s.after),
                "restart_sec": s.restart_sec,
                "realtime": s.realtime,
                "watchdog_sec": s.watchdog_sec,
                "type": s.type,
                "environment": dict(sorted(s.environment.items())),
                "memory_max": s.memory_max,
                "tasks_max": s.tasks_max,
                "ip_allow": list(s.ip_allow),
            }
            for s in spec.services
        ],
        "journald": {"system_max_use": spec.journald.system_max_use, "max_retention": spec.journald.max_retention},
        "health": {"host": spec.health.host, "port": spec.health.port, "path": spec.health.path},
        "params": dict(spec.params),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m horus_pipeline.bundle.deploydata [IMAGE ...]`: print each image's deploy section (a check by eye)."""
    names = list(sys.argv[1:] if argv is None else argv)
    specs = [load_image(n) for n in names] if names else all_images()
    for spec in specs:
        print(json.dumps(deploy_vars(spec), sort_keys=True, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
