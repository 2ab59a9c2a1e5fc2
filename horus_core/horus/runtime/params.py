"""horus.Params: a robot's runtime parameters, as upstream HORUS's (dict-like, typed, persisted).

Layers, lowest precedence first; each overrides single keys, never the whole set:

1. built-in defaults (upstream's: tick_rate, max_speed, emergency_stop_distance, pid_kp, ...);
2. the project's ``.horus/config/params.yaml`` (upstream's file), or the file given to Params(path);
3. the file named by ``HORUS_PARAMS_FILE``: how one robot of a fleet differs from the next
   without a code change (the deploy writes it per robot, next to the release);
4. ``HORUS_PARAM_<NAME>`` environment variables (``HORUS_PARAM_MAX_SPEED=0.5``), as upstream.

Files are JSON, TOML (``.toml``) or YAML (``.yaml``/``.yml``; JSON is YAML, and other YAML needs
PyYAML). A file that exists but cannot be read is an error: a robot must not run on defaults
nobody chose. A value keeps its type: setting ``max_speed`` (a float) to ``"fast"`` raises
TypeError. ``on_change(fn)`` callbacks see ``(key, old, new)`` and can refuse by raising.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Value = bool | int | float | str | list[Any] | dict[str, Any] | None
ChangeCallback = Callable[[str, Any, Any], None]

DEFAULTS: dict[str, Value] = {
    "tick_rate": 30,
    "max_memory_mb": 512,
    "max_speed": 1.0,
    "max_angular_speed": 1.0,
    "acceleration_limit": 0.5,
    "lidar_rate": 10,
    "camera_fps": 30,
    "sensor_timeout_ms": 1000,
    "emergency_stop_distance": 0.3,
    "collision_threshold": 0.5,
    "pid_kp": 1.0,
    "pid_ki": 0.1,
    "pid_kd": 0.05,
}
PROJECT_FILE = Path(".horus/config/params.yaml")
ENV_PREFIX = "HORUS_PARAM_"


def load_file(path: Path) -> dict[str, Value]:
    """The parameters in one file; raises ValueError naming the file when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"parameter file {path} exists but cannot be read ({exc.strerror}): fix or remove it") from exc
    if not text.strip():
        return {}
    try:
        loaded = _parse(path, text)
    except ValueError as exc:
        raise ValueError(f"parameter file {path} is malformed: {exc}; fix or remove it") from exc
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ValueError(f"parameter file {path} must map names to values (got {type(loaded).__name__})")
    return loaded


def _parse(path: Path, text: str) -> Any:
    if path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:
            raise ValueError("TOML parameter files need Python 3.11 or later (or write it as JSON)") from None
        return tomllib.loads(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if path.suffix not in (".yaml", ".yml"):
            raise ValueError(str(exc)) from exc
    try:
        import yaml
    except ImportError:
        raise ValueError("it is YAML beyond JSON, which needs PyYAML installed (or write it as JSON)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def _env_value(text: str) -> Value:
    """HORUS_PARAM_X=0.5 is a float, =true a bool, =[1,2] a list; anything else is the string itself."""
    try:
        value: Value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value


def _same_kind(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, (int, float)):
        return isinstance(new, (int, float))
    return type(old) is type(new)


class Params:
    """Runtime parameters: ``p["max_speed"]``, ``p.get("gain", 1.0)``, ``p["gain"] = 2.0``, ``p.save()``."""

    def __init__(self, path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self._path = Path(path) if path is not None else PROJECT_FILE
        self._lock = threading.Lock()
        self._callbacks: list[ChangeCallback] = []
        self._values: dict[str, Value] = dict(DEFAULTS)
        if path is not None or self._path.exists():
            self._values.update(load_file(self._path))
        robot_file = env.get("HORUS_PARAMS_FILE")
        if robot_file:
            self._values.update(load_file(Path(robot_file)))
        for key, text in env.items():
            if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
                self._values[key[len(ENV_PREFIX) :].lower()] = _env_value(text)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            if key not in self._values:
                raise KeyError(key)
            return self._values[key]

    def set(self, key: str, value: Any) -> None:
        """Set `key`; TypeError if it changes the value's type, or any exception an on_change callback raised."""
        json.dumps(value)  # a parameter is plain data: TypeError here for anything else
        with self._lock:
            old = self._values.get(key)
            if not _same_kind(old, value):
                raise TypeError(
                    f"parameter {key!r} is a {type(old).__name__} ({old!r}); refusing {type(value).__name__} {value!r}"
                )
            callbacks = list(self._callbacks)
        for callback in callbacks:  # outside the lock: a callback may read the parameters
            callback(key, old, value)
        with self._lock:
            self._values[key] = value

    __setitem__ = set

    def on_change(self, callback: ChangeCallback) -> None:
        """Call ``callback(key, old, new)`` before each change; if it raises, the change is refused."""
        self._callbacks.append(callback)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def has(self, key: str) -> bool:
        return key in self

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._values)

    def remove(self, key: str) -> bool:
        with self._lock:
            return self._values.pop(key, _MISSING) is not _MISSING

    def reset(self) -> None:
        """Back to the built-in defaults (files and environment are not read again)."""
        with self._lock:
            self._values = dict(DEFAULTS)

    def save(self) -> None:
        """Write every parameter to the file it was loaded from (JSON, which YAML readers read too)."""
        if self._path.suffix == ".toml":
            raise ValueError(f"Params.save() writes JSON or YAML, not TOML: keep {self._path}'s values in a .json file")
        with self._lock:
            text = json.dumps(self._values, indent=2, sort_keys=True) + "\n"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + "~")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self._path)  # atomic: a crash never leaves half a file

    def __repr__(self) -> str:
        return f"Params({len(self)} keys)"


_MISSING = object()
