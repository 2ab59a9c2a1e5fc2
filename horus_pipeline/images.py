"""Robot image specs: `images/<name>.toml`, loaded into typed, validated `ImageSpec` objects.

An image says what a robot of one kind runs: its CPU and Python (the target), the Debian
release of its rootfs, the HORUS app, where its Python packages come from (CPU-only torch),
the install prefix and service user, one systemd service per node process, journald
retention and the health endpoint. Every problem is an `ImageSpecError` naming the file,
the key, what was expected and how to fix it; unknown keys are refused so a typo never
silently falls back to a default.

Relative paths in a spec (`[app] dir`) are relative to the directory that holds `images/`
(the repository root for the shipped images).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from . import REPO
from .errors import PipelineError
from .robot import contract
from .targets import DEBIAN_RELEASES, Target, UnknownTargetError, get_arch

IMAGES_DIR = REPO / "images"

DEFAULT_MIRROR = "http://deb.debian.org/debian"
# CPU-only torch builds (`+cpu` local versions) for x86_64 and aarch64.
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

_NAME = re.compile(r"[a-z][a-z0-9-]*")
# Services never run as root, nor as a user or group that owns the system's files.
_PRIVILEGED = frozenset({"root", "daemon", "bin", "sys", "adm", "disk", "shadow", "sudo", "systemd-journal"})
# Values that reach unit text are checked with the robot contract's full-match grammars (contract.py):
# anything that quotes, escapes or expands (", ', \, %, $, newlines) could smuggle directives.
# Set by the deploy (HORUS_*) or able to change what code the interpreter or loader runs.
_ENV_RESERVED = frozenset({"PATH", "HOME", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT"})
_ENV_RESERVED_PREFIXES = ("LD_", "HORUS_")
_PARAM = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # horus.Params keys (also HORUS_PARAM_<NAME>)
ParamValue = bool | int | float | str | list[Any]


def _plain(value: object) -> bool:
    """A value horus.Params keeps as it is (TOML dates and tables are not)."""
    if isinstance(value, list):
        return all(isinstance(v, bool | int | float | str) for v in value)
    return isinstance(value, bool | int | float | str)


class ImageSpecError(PipelineError):
    """A robot image spec is missing, malformed or inconsistent; the message names file, key, fix."""


@dataclass(frozen=True)
class OsSpec:
    """The robot's Debian rootfs: release, mirror, and packages beyond the base set."""

    suite: str  # "bookworm"
    mirror: str = DEFAULT_MIRROR
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    """One node process, one systemd unit (`<app>-<name>.service`)."""

    name: str
    # What the unit runs, relative to the app directory: a Python script, or a C program
    # (program = "cnodes/motor.c") the build compiles for the image's CPU (bundle/native.py).
    script: str
    after: tuple[str, ...] = ()  # names of other services of this image
    restart_sec: float = 2.0
    realtime: bool = False  # SCHED_FIFO + mlockall: needs CAP_SYS_NICE, CAP_IPC_LOCK
    watchdog_sec: float | None = None  # needs type = "notify"
    type: Literal["notify", "simple"] = "simple"
    environment: Mapping[str, str] = field(default_factory=dict)
    # Kernel-enforced bounds: a leaking or runaway node is stopped (and restarted), the robot lives.
    memory_max: str = "1G"  # MemoryMax= (and LimitMEMLOCK= of a real-time node)
    tasks_max: int = 256  # TasksMax=: threads and processes
    # Networks it may talk to besides loopback (IPAddressAllow=); everything else is denied.
    ip_allow: tuple[str, ...] = ()
    program: str = ""  # set: a compiled service, and script is ""


@dataclass(frozen=True)
class Journald:
    """journald retention on the robot (`/etc/systemd/journald.conf.d/<app>.conf`)."""

    system_max_use: str = "500M"
    max_retention: str = "7d"


@dataclass(frozen=True)
class Health:
    """Where the app's health endpoint answers (HTTP GET, 200 when healthy)."""

    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/health"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"


@dataclass(frozen=True)
class ImageSpec:
    """A validated robot image spec."""

    name: str  # file stem: images/<name>.toml
    path: Path  # the spec file
    target: Target
    os: OsSpec
    app: Path  # the HORUS project directory (holds horus.toml)
    cpu_only: bool
    indexes: tuple[str, ...]  # extra package indexes, searched besides pip's own configuration
    extras: tuple[str, ...]  # PEP 508 requirements added to (or overriding) horus.toml's
    prefix: str  # install prefix on the robot, /opt/<app name> by default
    user: str
    group: str
    services: tuple[Service, ...]
    journald: Journald
    health: Health
    # horus.Params of every node process (HORUS_PARAMS_FILE on the robot); the inventory's
    # horus_robot_params overrides single keys per robot.
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    @property
    def app_name(self) -> str:
        return self.app.name

    @property
    def layout(self) -> contract.Layout:
        """Where the app lives on a robot and its units' names (the robot contract), in its own namespace."""
        return contract.Layout(self.prefix, self.app_name, self.app_name)

    @property
    def lockfile(self) -> Path:
        """`lockfiles/<name>.txt` beside the `images/` directory this spec lives in."""
        return self.path.parent.parent / "lockfiles" / f"{self.name}.txt"

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


def _default(cls: type, name: str) -> Any:
    """A field's default as its dataclass declares it: spec defaults are written there only."""
    return next(f.default for f in fields(cls) if f.name == name)


def load_image(name_or_path: str | Path) -> ImageSpec:
    """Load `images/<name>.toml` (or a spec file by path) and validate it."""
    path = _resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImageSpecError(f"{path}: cannot read image spec: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImageSpecError(f"{path}: not valid TOML: {exc}. Fix the syntax at that line.") from None
    return _Parser(path).image(data)


def all_images(directory: Path | None = None) -> list[ImageSpec]:
    """Every image spec in `images/` (or `directory`), sorted by name."""
    directory = directory or IMAGES_DIR
    return [load_image(p) for p in sorted(directory.glob("*.toml"))]


def image_names(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or IMAGES_DIR).glob("*.toml"))


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        path = Path(text)
        if not path.is_file():
            raise ImageSpecError(f"{path}: no such image spec file")
        return path.resolve()
    path = IMAGES_DIR / f"{text}.toml"
    if not path.is_file():
        known = ", ".join(image_names()) or "none"
        raise ImageSpecError(f"unknown image {text!r}: there is no {path.relative_to(REPO)} (images: {known})")
    return path


class _Parser:
    """Reads one spec's TOML table by table; every error names this file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.parent.parent

    def fail(self, key: str, expected: str, got: object = None, fix: str = "") -> ImageSpecError:
        got_text = "" if got is None else f", got {got!r}"
        fix_text = f". Fix: {fix}" if fix else ""
        return ImageSpecError(f"{self.path}: key {key!r}: expected {expected}{got_text}{fix_text}")

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str], required: bool) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "a table", fix=f"add a [{key}] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        self.no_unknown(value, key, allowed)
        return value

    def no_unknown(self, data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    f"{where}.{key}" if where else key,
                    f"one of {', '.join(sorted(allowed))}",
                    fix="remove the key or correct its spelling",
                )

    def str_(self, data: Mapping[str, Any], key: str, default: str | None = None) -> str:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if value is None:
            raise self.fail(key, "a string", fix=f'set {key} = "..."')
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a non-empty string", value)
        return value

    def bool_(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def seconds(self, data: Mapping[str, Any], key: str, default: float | None) -> float | None:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(key, "a number of seconds >= 0", value)
        return float(value)

    def strings(self, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = data.get(key.rsplit(".", 1)[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "a list of non-empty strings", value)
        return tuple(value)

    def image(self, data: dict[str, Any]) -> ImageSpec:
        self.no_unknown(data, "", {"target", "os", "app", "python", "services", "journald", "health", "params"})
        target_t = self.table(data, "target", {"arch", "python"}, required=True)
        os_t = self.table(data, "os", {"suite", "mirror", "packages"}, required=True)
        app_t = self.table(data, "app", {"dir", "prefix", "user", "group"}, required=True)
        py_t = self.table(data, "python", {"cpu_only", "indexes", "extras"}, required=False)
        journald_t = self.table(data, "journald", {"system_max_use", "max_retention"}, required=False)
        health_t = self.table(data, "health", {"host", "port", "path"}, required=False)

        os_spec = self.os(os_t)
        target = self.target(target_t, os_spec.suite)
        app = self.app_dir(app_t)
        services = self.services(data.get("services"), app)
        user = self.str_(app_t, "app.user", "horus")
        group = self.str_(app_t, "app.group", user)
        for key, value in (("app.user", user), ("app.group", group)):
            if not _NAME.fullmatch(value):
                raise self.fail(key, "a system user name (lower case letters, digits, '-')", value)
            if value in _PRIVILEGED:
                raise self.fail(key, "an unprivileged system user of the app's own", value, fix='use "horus"')
        prefix = self.str_(app_t, "app.prefix", f"/opt/{app.name}")
        if (
            not contract.PREFIX.fullmatch(prefix.rstrip("/"))
            or ".." in prefix.split("/")
            or prefix.rstrip("/") in ("", "/usr", "/etc", "/opt")
        ):
            raise self.fail("app.prefix", "an absolute directory of its own, such as /opt/<app>", prefix)
        return ImageSpec(
            name=self.path.stem,
            path=self.path,
            target=target,
            os=os_spec,
            app=app,
            cpu_only=self.bool_(py_t, "python.cpu_only", True),
            indexes=self.indexes(py_t),
            extras=self.extras(py_t),
            prefix=prefix.rstrip("/"),
            user=user,
            group=group,
            services=services,
            journald=self.journald(journald_t),
            health=self.health(health_t),
            params=self.params(self.table(data, "params", set(data.get("params") or {}), required=False)),
        )

    def params(self, t: Mapping[str, Any]) -> dict[str, ParamValue]:
        for name, value in t.items():
            if not _PARAM.fullmatch(name):
                raise self.fail(f"params.{name}", "a parameter name (letters, digits, '_', starting with a letter)")
            if not _plain(value):
                raise self.fail(f"params.{name}", "a number, boolean, string, or a list of them", value)
        return dict(sorted(t.items()))

    def os(self, t: Mapping[str, Any]) -> OsSpec:
        suite = self.str_(t, "os.suite")
        if suite not in DEBIAN_RELEASES:
            raise self.fail("os.suite", f"a Debian release in {sorted(DEBIAN_RELEASES)}", suite)
        mirror = self.str_(t, "os.mirror", _default(OsSpec, "mirror"))
        if not mirror.startswith(("http://", "https://", "file://")):
            raise self.fail("os.mirror", "an http(s):// or file:// URL of a Debian mirror", mirror)
        packages = self.strings(t, "os.packages")
        for pkg in packages:
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", pkg):
                raise self.fail("os.packages", "Debian package names", pkg)
        return OsSpec(suite=suite, mirror=mirror, packages=packages)

    def target(self, t: Mapping[str, Any], suite: str) -> Target:
        arch_name = self.str_(t, "target.arch")
        try:
            arch = get_arch(arch_name)
        except UnknownTargetError as exc:
            raise self.fail("target.arch", str(exc)) from None
        release = DEBIAN_RELEASES[suite]
        python = self.str_(t, "target.python", release.python)
        if python != release.python:
            raise self.fail(
                "target.python",
                f"{release.python!r}, the Python of Debian {suite} (robots run the system interpreter)",
                python,
                fix="change target.python or os.suite so they agree",
            )
        return release.target(arch)

    def app_dir(self, t: Mapping[str, Any]) -> Path:
        raw = self.str_(t, "app.dir")
        app = (self.root / raw).resolve()
        if not (app / "horus.toml").is_file():
            raise self.fail(
                "app.dir",
                "a HORUS project directory holding horus.toml",
                raw,
                fix=f"point it at the app (relative to {self.root}) or create {app / 'horus.toml'}",
            )
        return app

    def indexes(self, t: Mapping[str, Any]) -> tuple[str, ...]:
        if "indexes" not in t:
            return (PYTORCH_CPU_INDEX,)
        indexes = self.strings(t, "python.indexes")
        for url in indexes:
            if not url.startswith(("https://", "http://")):
                raise self.fail(
                    "python.indexes",
                    "http(s) URLs of PEP 503 simple indexes (local mirrors belong in pip's own config)",
                    url,
                )
        return indexes

    def extras(self, t: Mapping[str, Any]) -> tuple[str, ...]:
        extras = self.strings(t, "python.extras")
        seen: set[str] = set()
        for text in extras:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                raise self.fail(
                    "python.extras", "PEP 508 requirements such as 'torch==2.10.0'", text, fix=str(exc)
                ) from None
            name = canonicalize_name(req.name)
            if name in seen:
                raise self.fail("python.extras", "each package at most once", text)
            seen.add(name)
        return extras

    def services(self, raw: object, app: Path) -> tuple[Service, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(
                "services",
                "one or more [[services]] tables",
                raw,
                fix="add a [[services]] table per node process",
            )
        services: list[Service] = []
        allowed = {
            "name",
            "script",
            "program",
            "after",
            "restart_sec",
            "realtime",
            "watchdog_sec",
            "type",
            "environment",
            "memory_max",
            "tasks_max",
            "ip_allow",
        }
        for i, entry in enumerate(raw):
            key = f"services[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(key, "a table", entry)
            self.no_unknown(entry, key, allowed)
            name = self.str_(entry, f"{key}.name")
            if not _NAME.fullmatch(name):
                raise self.fail(f"{key}.name", "lower case letters, digits and '-'", name)
            if any(s.name == name for s in services):
                raise self.fail(f"{key}.name", "a name no other service uses", name)
            script, program = self.runs(entry, key, app)
            kind = self.str_(entry, f"{key}.type", _default(Service, "type"))
            if kind not in ("notify", "simple"):
                raise self.fail(f"{key}.type", "'notify' or 'simple'", kind)
            watchdog = self.seconds(entry, f"{key}.watchdog_sec", None)
            if watchdog is not None and kind != "notify":
                raise self.fail(
                    f"{key}.watchdog_sec",
                    "no watchdog unless type = 'notify'",
                    watchdog,
                    fix='set type = "notify" (the node must send WATCHDOG=1) or drop it',
                )
            env = self.environment(entry.get("environment", {}), f"{key}.environment")
            restart = self.seconds(entry, f"{key}.restart_sec", _default(Service, "restart_sec"))
            assert restart is not None
            services.append(
                Service(
                    name=name,
                    script=script,
                    program=program,
                    after=self.strings(entry, f"{key}.after"),
                    restart_sec=restart,
                    realtime=self.bool_(entry, f"{key}.realtime", _default(Service, "realtime")),
                    watchdog_sec=watchdog,
                    type="notify" if kind == "notify" else "simple",
                    environment=dict(env),
                    memory_max=self.memory(entry, f"{key}.memory_max"),
                    tasks_max=self.count(entry, f"{key}.tasks_max", _default(Service, "tasks_max")),
                    ip_allow=self.networks(entry, f"{key}.ip_allow"),
                )
            )
        names = {s.name for s in services}
        for i, svc in enumerate(services):
            for dep in svc.after:
                if dep not in names or dep == svc.name:
                    raise self.fail(
                        f"services[{i}].after", f"names of other services ({', '.join(sorted(names))})", dep
                    )
        return tuple(services)

    def runs(self, entry: Mapping[str, Any], key: str, app: Path) -> tuple[str, str]:
        """(script, program) of a service: one of them is set, a file inside the app."""
        if ("script" in entry) == ("program" in entry):
            raise self.fail(
                key,
                "either script (a Python file of the app) or program (a C file of the app, compiled for the "
                "image's CPU)",
                fix='set script = "control.py" for the Python variant, or program = "cnodes/motor.c" for the C one',
            )
        which = "script" if "script" in entry else "program"
        path = self.str_(entry, f"{key}.{which}")
        if not contract.REL_PATH.fullmatch(path) or ".." in Path(path).parts:
            raise self.fail(
                f"{key}.{which}", "a relative path of letters, digits and '_.+-' (it becomes unit text)", path
            )
        if not (app / path).is_file():
            raise self.fail(f"{key}.{which}", f"a file inside {app}", path)
        if which == "program" and not path.endswith(".c"):
            raise self.fail(f"{key}.program", "a C source file (.c) that uses horus_node.h", path)
        return (path, "") if which == "script" else ("", path)

    def memory(self, entry: Mapping[str, Any], key: str) -> str:
        value = self.str_(entry, key, _default(Service, "memory_max"))
        if not contract.MEMORY.fullmatch(value):
            raise self.fail(key, "a size such as '512M' or '2G' (at least 16M)", value)
        return value

    def count(self, entry: Mapping[str, Any], key: str, default: int) -> int:
        value = entry.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 65536:
            raise self.fail(key, "a whole number from 16 to 65536", value)
        return value

    def networks(self, entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
        nets = self.strings(entry, key)
        for net in nets:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise self.fail(key, "IP networks such as '10.0.0.0/8' or addresses", net) from None
        return nets

    def environment(self, env: object, key: str) -> dict[str, str]:
        """A service's environment: names and values a unit file takes as they are (no quoting games)."""
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise self.fail(key, "a table of string values", env)
        for name, value in env.items():
            if (
                not contract.ENV_NAME.fullmatch(name)
                or name in _ENV_RESERVED
                or name.startswith(_ENV_RESERVED_PREFIXES)
            ):
                raise self.fail(
                    f"{key}.{name}",
                    "a variable name of letters, digits and '_' that the loader and the role leave alone",
                    name,
                    fix=f"rename it (not {', '.join(sorted(_ENV_RESERVED))} or {'*, '.join(_ENV_RESERVED_PREFIXES)}*)",
                )
            if not contract.ENV_VALUE.fullmatch(value):
                raise self.fail(
                    f"{key}.{name}",
                    "printable characters without quotes, backslashes, '%' or '$'",
                    value,
                    fix="put such data in a file of the app and its path here",
                )
        return dict(env)

    def journald(self, t: Mapping[str, Any]) -> Journald:
        use = self.str_(t, "journald.system_max_use", _default(Journald, "system_max_use"))
        if not contract.SIZE.fullmatch(use):
            raise self.fail("journald.system_max_use", "a size such as '500M' or '2G'", use)
        keep = self.str_(t, "journald.max_retention", _default(Journald, "max_retention"))
        if not contract.SPAN.fullmatch(keep):
            raise self.fail("journald.max_retention", "a time span such as '7d' or '12h'", keep)
        return Journald(system_max_use=use, max_retention=keep)

    def health(self, t: Mapping[str, Any]) -> Health:
        host = self.str_(t, "health.host", _default(Health, "host"))
        if not contract.HOST.fullmatch(host):
            raise self.fail("health.host", "an IP address or host name such as '127.0.0.1'", host)
        port = t.get("port", _default(Health, "port"))
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise self.fail("health.port", "a TCP port 1-65535", port)
        path = self.str_(t, "health.path", _default(Health, "path"))
        if not path.startswith("/"):
            raise self.fail("health.path", "a URL path starting with '/'", path)
        return Health(host=host, port=port, path=path)
