"""horus.runtime.drivers as far as this runtime provides it: the robot's name from its horus.toml.

Upstream HORUS names topics "{robot}.{sensor}.{data}" with the robot's name from the
manifest's ``[robot] name``; ``robot_name_from`` reads it. Upstream's hardware drivers
(``load()`` and the driver classes) are not provided: ``load()`` says so.
"""

from __future__ import annotations

import os
import tomllib

from ..cli.project import MANIFEST


def robot_name_from(path: str | os.PathLike[str] = MANIFEST) -> str | None:
    """The ``[robot] name`` of the manifest at `path`, or None when it has no [robot] name."""
    try:
        with open(path, "rb") as f:
            manifest = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"no HORUS manifest at {path}: robot_name_from needs a horus.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    robot = manifest.get("robot", {})
    name = robot.get("name") if isinstance(robot, dict) else robot
    if not isinstance(robot, dict) or (name is not None and not isinstance(name, str)):
        raise ValueError(f'{path}: [robot] name must be a string, e.g. name = "turtlebot" (got {name!r})')
    return name


def load() -> list[tuple[str, object]]:
    """Upstream's hardware drivers: not provided by this runtime."""
    raise NotImplementedError(
        "hardware drivers (horus.runtime.drivers.load) are not provided by this HORUS runtime: "
        "open your devices in the node's init() with their own Python library"
    )
