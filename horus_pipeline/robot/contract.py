"""The robot's on-disk contract: every path, marker, unit name and unit text a deploy leaves on a
robot, in one place. Standard library only: it runs on robots (the deploy role's `horus_release`
module imports it as module_utils) and on the build host (`nox -s image`, fleet status, doctor,
soak take their names from here).

    <prefix>/layers/<layer-hash>/          unpacked layers, read-only, shared by releases
    <prefix>/releases/<id>/                MANIFEST.json (+ .sig), assemble.py, venv/, app -> its layer
    <prefix>/current -> releases/<id>      switched atomically (temporary link + rename)
    <prefix>/healthy                       the confirmed release: current and not healthy is pending
    <prefix>/previous                      the release confirmed before it (rollback.yml goes there)
    <prefix>/serial                        the newest serial the robot confirmed (older ones are downgrades)
    <prefix>/applied                       digest of everything the last confirmed deploy wrote
    <prefix>/release-guard                 puts back the confirmed release (boot, and a timer per switch)
    /etc/systemd/system/<app>-<service>.service, <app>.target, horus-release-guard-<app>.service
    /etc/horus/<app>/<service>.env         each node process's environment (root only)
    /etc/horus/<app>.params.json           the robot's horus.Params
    /etc/horus/apps/<app>.json             this file's names for the app, for fleet status and doctor
    /etc/horus/trust/                      the robot's own trust anchor (allowed signers, keyring serial)
    horus-metrics-<app>.service, /etc/horus/metrics/<app>/   the metrics gateway, when the inventory asks
                                           (horus_robot_metrics_listen): its unit, certificate and credentials
    /etc/systemd/journal-upload.conf.d/horus.conf, /etc/horus/journal-upload/   the journal upload, when
                                           the inventory asks (horus_robot_journal_upload_url)

Every value that reaches unit text is checked here with a full-match grammar (no newline, control
character, quote, '%' or '$'), on the build host and again on the robot, naming the field.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# `ssh-keygen -Y` namespaces: releases (`nox -s bundle -- --sign`) and trust keyrings.
RELEASE_NAMESPACE = "horus-release"
KEYRING_NAMESPACE = "horus-keyring"
TRUST_DIR = "/etc/horus/trust"
ALLOWED_SIGNERS = f"{TRUST_DIR}/allowed_signers"
# {"serial": N, "revoked": [public keys]}: the newest keyring the robot took, and every key ever revoked.
KEYRING_STATE = f"{TRUST_DIR}/keyring.json"
APPS_DIR = "/etc/horus/apps"
# What a deploy pushes waits here (root only), outside the prefix: a refused push leaves no trace there.
STATE_DIR = "/var/lib/horus"
INCOMING_DIR = f"{STATE_DIR}/incoming"
# The service account: a system user and group of the release's names, no login, no home.
SERVICE_SHELL = "/usr/sbin/nologin"
SERVICE_HOME = "/nonexistent"
HORUS_COMMAND = "/usr/local/bin/horus"
PYTHON = "/usr/bin/python3"
UNIT_DIR = "/etc/systemd/system"
JOURNALD_DIR = "/etc/systemd/journald.conf.d"
TMPFILES_DIR = "/etc/tmpfiles.d"
MARKERS = ("previous", "healthy", "serial")
# Under the prefix; the assembly tool (assemble.py) works in these too.
LAYERS_DIR = "layers"
RELEASES_DIR = "releases"
MANIFEST_FILE = "MANIFEST.json"
HEADER = "# Written by the horus_robot deploy (horus_pipeline/robot/contract.py): a deploy overwrites edits.\n"
HEADER_LINE = HEADER.rstrip("\n")  # the first line of every file a deploy writes

# Full-match grammars of what reaches unit text, file names or paths on the robot.
NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")  # app and service names
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# The directories the runtime makes in a namespace (horus_core: topic, registry, updates, tensorpool).
HOLDS_SUBDIR = "holds"  # where update holds are: a deploy looks there before asking the runtime
SHM_SUBDIRS = ("topics", "stats", HOLDS_SUBDIR, "tensors")
# Accounts as good as root: a service never runs as, or in the group of, one of them.
PRIVILEGED = frozenset({"root", "sudo", "wheel", "adm", "disk", "shadow", "docker"})
NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PREFIX = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)+")
REL_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*")
LAYER_HASH = re.compile(r"[0-9a-f]{16,64}")
RELEASE_ID = re.compile(r"[0-9a-f]{16}")
SHA256 = re.compile(r"[0-9a-f]{64}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENV_VALUE = re.compile(r"[^\x00-\x1f\x7f\"'\\%$]*")
MEMORY = re.compile(r"(1[6-9]|[2-9][0-9]|[1-9][0-9]{2,})M|[1-9][0-9]*G")
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]*")
URL_PATH = re.compile(r"/[A-Za-z0-9_./-]*")
SIZE = re.compile(r"[0-9]+[KMGT]?")
SPAN = re.compile(r"[0-9]+(s|min|h|d|week|month|year)?")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # images/<name>.toml


class ContractError(Exception):
    """A value would break the robot contract; the message names where, the field and the rule."""


# The metrics gateway (metrics_gateway.py, in the release's tool layer): what systemd hands it.
METRICS_DIR = "/etc/horus/metrics"
GATEWAY_SCRIPT = "metrics_gateway.py"
GATEWAY_CREDENTIALS = ("tls.crt", "tls.key", "auth.json")
METRICS_USER = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PEM = re.compile(r"-----BEGIN [A-Z ]+-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----\n?")


def check(pattern: re.Pattern[str], value: object, where: str, field: str, rule: str) -> str:
    """`value` when it is a string that `pattern` matches whole; else ContractError naming the field."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ContractError(f"{where}: {field} is {value!r}: {rule}; fix it and rebuild the release")
    return value


def _number(value: object, where: str, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ContractError(f"{where}: {field} is {value!r}: a number from {low} to {high}")
    return float(value)


def check_deploy(deploy: Mapping[str, Any], prefix: object, where: str) -> None:
    """Refuse a release's deploy data and prefix unless every value is one unit text takes as it is."""
    check(PREFIX, prefix, where, "prefix", "an absolute path of letters, digits and '_.+-' (no '..')")
    if ".." in str(prefix).split("/"):
        raise ContractError(f"{where}: prefix {prefix!r} climbs out with '..'")
    check(NAME, deploy.get("app"), where, "deploy.app", "lower case letters, digits and '-'")
    for key in ("user", "group"):
        account = check(ACCOUNT, deploy.get(key), where, f"deploy.{key}", "a system account name")
        if account in PRIVILEGED:
            raise ContractError(
                f"{where}: deploy.{key} is {account!r}, an account as good as root: services run as an "
                "unprivileged account of their own (the image spec's default); fix it and rebuild the release"
            )
    services = deploy.get("services")
    if not isinstance(services, list) or not services:
        raise ContractError(f"{where}: deploy.services is {services!r}: one or more services")
    names = [s.get("name") if isinstance(s, dict) else None for s in services]
    for i, svc in enumerate(services):
        at = f"deploy.services[{i}]"
        if not isinstance(svc, dict):
            raise ContractError(f"{where}: {at} is not a table")
        check(NAME, svc.get("name"), where, f"{at}.name", "lower case letters, digits and '-'")
        if svc.get("native"):
            check(re.compile(r"native/" + NAME.pattern), svc["native"], where, f"{at}.native", "native/<service>")
        else:
            check(REL_PATH, svc.get("script"), where, f"{at}.script", "a relative path of letters, digits and '_.+-'")
        for dep in svc.get("after", []):
            if dep not in names:
                raise ContractError(f"{where}: {at}.after names {dep!r}, which is not a service of the release")
        if svc.get("type") not in ("notify", "simple"):
            raise ContractError(f"{where}: {at}.type is {svc.get('type')!r}: 'notify' or 'simple'")
        _number(svc.get("restart_sec"), where, f"{at}.restart_sec", 0, 3600)
        if svc.get("watchdog_sec") is not None:
            _number(svc["watchdog_sec"], where, f"{at}.watchdog_sec", 0.001, 3600)
        if not isinstance(svc.get("realtime"), bool):
            raise ContractError(f"{where}: {at}.realtime is {svc.get('realtime')!r}: true or false")
        check(MEMORY, svc.get("memory_max"), where, f"{at}.memory_max", "16M or more, in M or G")
        _number(svc.get("tasks_max"), where, f"{at}.tasks_max", 1, 1 << 20)
        for net in svc.get("ip_allow", []):
            try:
                ipaddress.ip_network(str(net))
            except ValueError:
                raise ContractError(f"{where}: {at}.ip_allow has {net!r}: an address or network") from None
            check(re.compile(r"[0-9a-fA-F.:/]+"), net, where, f"{at}.ip_allow", "an address or network")
        for key, value in (svc.get("environment") or {}).items():
            check(ENV_NAME, key, where, f"{at}.environment", "variable names of letters, digits and '_'")
            check(ENV_VALUE, value, where, f"{at}.environment.{key}", "no control character, quote, '\\', '%' or '$'")
    journald = deploy.get("journald") or {}
    check(SIZE, journald.get("system_max_use"), where, "deploy.journald.system_max_use", "a size such as 500M")
    check(SPAN, journald.get("max_retention"), where, "deploy.journald.max_retention", "a time span such as 7d")
    health = deploy.get("health") or {}
    check(HOST, health.get("host"), where, "deploy.health.host", "a host name or address")
    check(URL_PATH, health.get("path"), where, "deploy.health.path", "a URL path such as /health")
    _number(health.get("port"), where, "deploy.health.port", 1, 65535)


@dataclass(frozen=True)
class RobotFile:
    """One directory (text None) or file a deploy writes: absolute path, mode, owner and group names;
    a secret's text (a private key) is never shown in a diff."""

    path: str
    mode: int
    owner: str
    group: str
    text: str | None
    secret: bool = False


@dataclass(frozen=True)
class MetricsGateway:
    """The inventory's horus_robot_metrics_* settings, checked: where the gateway listens, who may
    connect (networks; empty: any), its TLS certificate and key (PEM), and auth.json's text."""

    listen: str
    allow: tuple[str, ...]
    cert: str
    key: str
    auth: str


def metrics_gateway(settings: Mapping[str, Any], app: str) -> MetricsGateway:
    """The gateway of the role's `metrics` argument: {listen, allow, users, tokens, cert, key}."""
    # Imported here: on the robot and the controller, never from a release's copy of this file.
    from .metrics_gateway import GatewayError, address, auth_file

    where = "the inventory"
    listen = str(settings.get("listen", ""))
    try:
        address(listen, "horus_robot_metrics_listen")
    except GatewayError as exc:
        raise ContractError(f"{where}: {exc}") from None
    allow = tuple(str(a) for a in settings.get("allow") or ())
    for net in allow:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ContractError(
                f"{where}: horus_robot_metrics_allow has {net!r}: addresses or networks such as 10.0.0.0/8"
            ) from None
    users = settings.get("users") or {}
    tokens = settings.get("tokens") or []
    if not isinstance(users, dict) or not isinstance(tokens, list):
        raise ContractError(f"{where}: horus_robot_metrics_users is a mapping of user to password, _tokens a list")
    for user, password in users.items():
        check(METRICS_USER, user, where, "horus_robot_metrics_users", "user names of letters, digits and '_.-'")
        if not isinstance(password, str) or not 8 <= len(password) <= 1024:
            raise ContractError(
                f"{where}: horus_robot_metrics_users.{user}: a password of 8 to 1024 characters (vault it)"
            )
    for token in tokens:
        if not isinstance(token, str) or not 16 <= len(token) <= 4096 or any(c.isspace() for c in token):
            raise ContractError(f"{where}: horus_robot_metrics_tokens: tokens of 16 to 4096 characters, no spaces")
    if not users and not tokens:
        raise ContractError(
            f"{where}: horus_robot_metrics_listen is {listen!r} but neither horus_robot_metrics_users nor "
            "horus_robot_metrics_tokens says who may read: set one (from a vault); metrics are never served "
            "unauthenticated beyond loopback"
        )
    cert = _pem(settings, "cert", "horus_robot_tls_cert_file")
    key = _pem(settings, "key", "horus_robot_tls_key_file")
    return MetricsGateway(listen, allow, cert, key, auth_file(app, users, tokens))


# systemd-journal-upload (Debian's systemd-journal-remote package, in every robot's base set): the
# robot's whole journal, structured fields included (HORUS_NODE, PRIORITY), sent to a collector's
# systemd-journal-remote over HTTPS with the robot's certificate. The upload keeps its cursor
# (--save-state), so a robot that was offline sends what it missed once the collector answers.
JOURNAL_UPLOAD_UNIT = "systemd-journal-upload.service"
JOURNAL_UPLOAD_CONF_DIR = "/etc/systemd/journal-upload.conf.d"
JOURNAL_UPLOAD_CONF = f"{JOURNAL_UPLOAD_CONF_DIR}/horus.conf"
JOURNAL_UPLOAD_DROPIN_DIR = f"{UNIT_DIR}/{JOURNAL_UPLOAD_UNIT}.d"
JOURNAL_UPLOAD_DROPIN = f"{JOURNAL_UPLOAD_DROPIN_DIR}/horus.conf"
JOURNAL_UPLOAD_DIR = "/etc/horus/journal-upload"
JOURNAL_CREDENTIALS = ("cert.pem", "key.pem", "ca.pem")
UPLOAD_URL = re.compile(r"https://([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?")
# Seconds between two tries while the collector does not answer (the upload exits; systemd starts it again).
JOURNAL_RETRY_SEC = 10
# What a deploy adds, changes or removes for the upload without restarting nodes.
JOURNAL_UPLOAD_PATHS = (JOURNAL_UPLOAD_CONF, JOURNAL_UPLOAD_DROPIN, JOURNAL_UPLOAD_DIR)


@dataclass(frozen=True)
class JournalUpload:
    """The inventory's horus_robot_journal_upload_* settings, checked: the collector's URL, the robot's
    certificate and key (PEM) and the CA the collector's certificate is signed by."""

    url: str
    cert: str
    key: str
    ca: str


def _pem(settings: Mapping[str, Any], field: str, variable: str) -> str:
    text = settings.get(field)
    if not isinstance(text, str) or not PEM.fullmatch(text.strip() + "\n"):
        raise ContractError(f"the inventory: {variable} does not hold PEM text: give a PEM file")
    return text.strip() + "\n"


def journal_upload(settings: Mapping[str, Any]) -> JournalUpload:
    """The upload of the role's `journal_upload` argument: {url, cert, key, ca}."""
    url = check(UPLOAD_URL, settings.get("url"), "the inventory", "horus_robot_journal_upload_url",
                "https://HOST[:PORT] of a systemd-journal-remote (port 19532 by default)")  # fmt: skip
    return JournalUpload(
        url.rstrip("/"),
        _pem(settings, "cert", "horus_robot_tls_cert_file"),
        _pem(settings, "key", "horus_robot_tls_key_file"),
        _pem(settings, "ca", "horus_robot_journal_upload_ca_file"),
    )


def journal_upload_files(up: JournalUpload) -> list[RobotFile]:
    """What sends the robot's journal to the collector: a configuration for Debian's unit, a drop-in
    that hands it the credentials and keeps it retrying, and the credentials (root only)."""
    creds = f"/run/credentials/{JOURNAL_UPLOAD_UNIT}"
    conf = (
        f"{HEADER}# The robot's journal to a central systemd-journal-remote (horus_robot_journal_upload_url).\n"
        f"[Upload]\nURL={up.url}\nServerKeyFile={creds}/key.pem\nServerCertificateFile={creds}/cert.pem\n"
        f"TrustedCertificateFile={creds}/ca.pem\n"
    )
    dropin = (
        f"{HEADER}# Credentials for the upload (its dynamic user reads nothing else of /etc/horus), and a try\n"
        f"# every {JOURNAL_RETRY_SEC} s for as long as the collector does not answer: an offline robot catches up\n"
        "# from its saved cursor once it does.\n"
        "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\n"
        + "".join(f"LoadCredential={n}:{JOURNAL_UPLOAD_DIR}/{n}\n" for n in JOURNAL_CREDENTIALS)
        + f"Restart=always\nRestartSec={JOURNAL_RETRY_SEC}\n"
    )
    return [
        *_credential_files(JOURNAL_UPLOAD_DIR, JOURNAL_CREDENTIALS, (up.cert, up.key, up.ca), ("key.pem",)),
        RobotFile(JOURNAL_UPLOAD_CONF_DIR, 0o755, "root", "root", None),
        RobotFile(JOURNAL_UPLOAD_CONF, 0o644, "root", "root", conf),
        RobotFile(JOURNAL_UPLOAD_DROPIN_DIR, 0o755, "root", "root", None),
        RobotFile(JOURNAL_UPLOAD_DROPIN, 0o644, "root", "root", dropin),
    ]


@dataclass(frozen=True)
class Layout:
    """Where one app lives on a robot, and the names of its units."""

    prefix: str
    app: str
    namespace: str

    @property
    def layers(self) -> str:
        return f"{self.prefix}/{LAYERS_DIR}"

    @property
    def releases(self) -> str:
        return f"{self.prefix}/{RELEASES_DIR}"

    @property
    def current(self) -> str:
        return f"{self.prefix}/current"

    @property
    def pushed_layers(self) -> str:
        """Where the controller puts the layers a robot lacks (one tar), in the app's incoming directory."""
        return f"{self.incoming}/layers.tar"

    @property
    def incoming(self) -> str:
        """Where the deploy puts what it pushes (root only), removed when the transaction ends."""
        return f"{INCOMING_DIR}/{self.app}"

    @property
    def applied(self) -> str:
        return f"{self.prefix}/applied"

    @property
    def undo(self) -> str:
        """What the files a pending deploy replaced held: put back if its release fails."""
        return f"{self.prefix}/.undo.json"

    @property
    def guard_script(self) -> str:
        return f"{self.prefix}/release-guard"

    def marker(self, name: str) -> str:
        assert name in MARKERS, name
        return f"{self.prefix}/{name}"

    def release(self, rid: str) -> str:
        return f"{self.releases}/{rid}"

    def manifest(self, rid: str) -> str:
        return f"{self.release(rid)}/{MANIFEST_FILE}"

    def signature(self, rid: str) -> str:
        """The signature the robot verified the release by, kept beside its manifest."""
        return f"{self.manifest(rid)}.sig"

    def layer(self, layer_hash: str) -> str:
        return f"{self.layers}/{layer_hash}"

    def unit(self, service: str) -> str:
        return f"{self.app}-{service}.service"

    @property
    def target(self) -> str:
        return f"{self.app}.target"

    @property
    def guard(self) -> str:
        """The guard's unit name, without .service (its timer per switch is `<guard>-pending`)."""
        return f"horus-release-guard-{self.app}"

    @property
    def guard_timer(self) -> str:
        return f"{self.guard}-pending"

    @property
    def marker_line(self) -> str:
        """Second line of every unit of the app: pruning removes only units that carry it."""
        return f"# horus_robot unit of app {self.app}"

    @property
    def env_dir(self) -> str:
        return f"/etc/horus/{self.app}"

    def env_file(self, service: str) -> str:
        return f"{self.env_dir}/{service}.env"

    @property
    def params_file(self) -> str:
        return f"/etc/horus/{self.app}.params.json"

    @property
    def index_file(self) -> str:
        return f"{APPS_DIR}/{self.app}.json"

    @property
    def journald_conf(self) -> str:
        return f"{JOURNALD_DIR}/{self.app}.conf"

    @property
    def tmpfiles_conf(self) -> str:
        return f"{TMPFILES_DIR}/horus-{self.app}.conf"

    @property
    def shm_dir(self) -> str:
        return f"/dev/shm/horus.{self.namespace}"

    @property
    def holds_dir(self) -> str:
        return f"{self.shm_dir}/{HOLDS_SUBDIR}"

    @property
    def metrics_unit(self) -> str:
        """The metrics gateway's unit: not a node process (no `<app>-` name a service could take)."""
        return f"horus-metrics-{self.app}.service"

    @property
    def metrics_dir(self) -> str:
        """The gateway's certificate, key and auth.json (root only; systemd hands them to the gateway)."""
        return f"{METRICS_DIR}/{self.app}"

    def state_dir(self, service: str) -> str:
        return f"/var/lib/{self.app}/{service}"

    @property
    def venv_python(self) -> str:
        """The current release's interpreter (soak and the upgrade loop run probes with it)."""
        return f"{self.current}/venv/bin/python"

    @property
    def app_dir(self) -> str:
        """The current release's app (its layer): what node scripts and the app's tests are under."""
        return f"{self.current}/app"

    def release_python(self, rid: str) -> str:
        return f"{self.release(rid)}/venv/bin/python"

    def exec_start(self, svc: Mapping[str, Any]) -> str:
        """What a service's unit runs: its compiled program, or its script under the release's venv."""
        if svc.get("native"):
            return f"{self.current}/{svc['native']}"
        return f"{self.venv_python} -u {self.app_dir}/{svc['script']}"

    def units(self, deploy: Mapping[str, Any]) -> list[str]:
        return [self.unit(s["name"]) for s in deploy["services"]]

    def enabled(self, deploy: Mapping[str, Any], metrics: bool = False, journal: bool = False) -> list[str]:
        """Every unit `systemctl enable` makes start at boot."""
        return [
            *self.units(deploy),
            self.target,
            f"{self.guard}.service",
            *([self.metrics_unit] if metrics else []),
            *([JOURNAL_UPLOAD_UNIT] if journal else []),
        ]


def layout(manifest: Mapping[str, Any], namespace: str = "") -> Layout:
    """The layout of a release's app, its shared-memory namespace the inventory's or the app's name."""
    app = manifest["deploy"]["app"]
    ns = namespace or app
    check(NAMESPACE, ns, "the inventory", "horus_robot_namespace", "1-64 of letters, digits and '_.-'")
    return Layout(prefix=manifest["prefix"], app=app, namespace=ns)


# ---------------------------------------------------------------- what a deploy writes


def _service_unit(
    lay: Layout, image: str, deploy: Mapping[str, Any], svc: Mapping[str, Any], start_limit: tuple[int, int]
) -> str:
    name, after = svc["name"], [lay.unit(d) for d in svc.get("after", [])]
    lines = [
        HEADER_LINE,
        lay.marker_line,
        f"# Node process {name} of {lay.app} (image {image}): runs the current release.",
        "[Unit]",
        f"Description=HORUS {lay.app} node process {name}",
        f"PartOf={lay.target}",
        "# No release (its first deploy failed and was undone): nothing to run, no restart loop.",
        f"ConditionPathExists={lay.current}",
        "After=" + " ".join(["network.target", *after]),
        *([f"Wants={' '.join(after)}"] if after else []),
        "# A node that keeps failing stops being restarted (and the deploy's health gate notices).",
        f"StartLimitIntervalSec={start_limit[1]}",
        f"StartLimitBurst={start_limit[0]}",
        "",
        "[Service]",
        f"Type={svc['type']}",
        *(["NotifyAccess=main"] if svc["type"] == "notify" else []),
        *([f"WatchdogSec={_num(svc['watchdog_sec'])}"] if svc.get("watchdog_sec") is not None else []),
        f"User={deploy['user']}",
        f"Group={deploy['group']}",
        f"WorkingDirectory={lay.app_dir}",
        *(
            ["# A compiled node (the release's native layer), run like the Python ones: same user, same hardening."]
            if svc.get("native")
            else []
        ),
        f"ExecStart={lay.exec_start(svc)}",
        f"EnvironmentFile={lay.env_file(name)}",
        "# The one place a node writes (the rest is read-only), kept across restarts and releases: the",
        "# flight recorder and the black box keep what happened at 3 AM there (the env file points them).",
        f"StateDirectory={lay.app}/{name}",
        "StateDirectoryMode=0700",
        "Restart=on-failure",
        f"RestartSec={_num(svc['restart_sec'])}",
        f"SyslogIdentifier={lay.app}-{name}",
        "UMask=0077",
        "",
        "# Resources: the kernel stops a leaking or runaway node (and systemd restarts it); the robot lives.",
        f"MemoryMax={svc['memory_max']}",
        f"TasksMax={svc['tasks_max']}",
        "# Loopback (the health endpoint, other local nodes) and nothing else unless the image says so.",
        "IPAddressDeny=any",
        "IPAddressAllow=" + " ".join(["localhost", *svc.get("ip_allow", [])]),
        "",
        "# Hardening. /dev/shm stays the robot's own (PrivateDevices keeps it): every node process of",
        "# the app shares topics there.",
        *_HARDENING,
        "SystemCallFilter=~@privileged" + ("" if svc["realtime"] else " @resources"),
        "SystemCallErrorNumber=EPERM",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        *(_realtime(svc) if svc["realtime"] else ["RestrictRealtime=yes", "CapabilityBoundingSet="]),
        "",
        "[Install]",
        f"WantedBy={lay.target}",
    ]
    return "\n".join(lines) + "\n"


_HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "RestrictNamespaces=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "KeyringMode=private",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
]


def _realtime(svc: Mapping[str, Any]) -> list[str]:
    return [
        "# Real time: SCHED_FIFO and mlockall. The rlimits alone do nothing where the host withholds",
        "# CAP_SYS_RESOURCE (as on simulated robots); the two capabilities are what the runtime uses.",
        f"LimitMEMLOCK={svc['memory_max']}",
        "LimitRTPRIO=99",
        "AmbientCapabilities=CAP_SYS_NICE CAP_IPC_LOCK",
        "CapabilityBoundingSet=CAP_SYS_NICE CAP_IPC_LOCK",
    ]


def _upstream(deploy: Mapping[str, Any]) -> str:
    """Where the gateway reaches the node process's endpoint: its host, loopback for a wildcard."""
    health = deploy["health"]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(health["host"], health["host"])
    return f"[{host}]:{health['port']}" if ":" in host else f"{host}:{health['port']}"


def _metrics_unit(lay: Layout, image: str, deploy: Mapping[str, Any], gw: MetricsGateway) -> str:
    script = f"{lay.current}/{GATEWAY_SCRIPT}"
    upstream = _upstream(deploy)
    lines = [
        HEADER_LINE,
        lay.marker_line,
        f"# /metrics and /health of {lay.app} (image {image}) on {gw.listen}, over TLS, for callers that",
        "# authenticate (the inventory's horus_robot_metrics_*). Restarted with the nodes: it runs the",
        "# current release's gateway. The nodes themselves stay on loopback.",
        "[Unit]",
        f"Description=HORUS {lay.app} metrics gateway on {gw.listen}",
        f"PartOf={lay.target}",
        "# A release from before the gateway has none: nothing to run, no restart loop.",
        f"ConditionPathExists={script}",
        "After=network.target",
        "",
        "[Service]",
        "Type=simple",
        "# No account of the robot's: a user made for each start, which can read nothing of the nodes'.",
        "DynamicUser=yes",
        f"ExecStart={PYTHON} -I {script} --listen {gw.listen} --upstream {upstream}",
        *(f"LoadCredential={name}:{lay.metrics_dir}/{name}" for name in GATEWAY_CREDENTIALS),
        "Restart=on-failure",
        "RestartSec=2",
        f"SyslogIdentifier=horus-metrics-{lay.app}",
        "UMask=0077",
        "MemoryMax=128M",
        "TasksMax=32",
        "",
        "# Network: its listening address for the scrapers (horus_robot_metrics_allow narrows who), and",
        "# loopback for the node process's endpoint.",
        "IPAddressDeny=any",
        "IPAddressAllow=" + " ".join(["localhost", *(gw.allow or ("any",))]),
        "RestrictAddressFamilies=AF_INET AF_INET6",
        "",
        *_HARDENING,
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        "CapabilityBoundingSet=",
        "RestrictRealtime=yes",
        "MemoryDenyWriteExecute=yes",
        "PrivateUsers=yes",
        "ProcSubset=pid",
        "DevicePolicy=closed",
        "",
        "[Install]",
        f"WantedBy={lay.target}",
    ]
    return "\n".join(lines) + "\n"


def _metrics_files(lay: Layout, image: str, deploy: Mapping[str, Any], gw: MetricsGateway) -> list[RobotFile]:
    return [
        RobotFile(METRICS_DIR, 0o755, "root", "root", None),
        *_credential_files(lay.metrics_dir, GATEWAY_CREDENTIALS, (gw.cert, gw.key, gw.auth), ("tls.key", "auth.json")),
        RobotFile(f"{UNIT_DIR}/{lay.metrics_unit}", 0o644, "root", "root", _metrics_unit(lay, image, deploy, gw)),
    ]


def _credential_files(
    directory: str, names: tuple[str, ...], texts: tuple[str, ...], secret: tuple[str, ...]
) -> list[RobotFile]:
    """A root-only directory of what systemd hands a unit (LoadCredential=); the `secret` ones never in a diff."""
    return [
        RobotFile(directory, 0o700, "root", "root", None),
        *(
            RobotFile(f"{directory}/{name}", 0o600, "root", "root", text, secret=name in secret)
            for name, text in zip(names, texts, strict=True)
        ),
    ]


def metrics_paths(lay: Layout) -> tuple[str, str]:
    """The gateway's unit file and directory: what a deploy adds, changes or removes without restarting nodes."""
    return f"{UNIT_DIR}/{lay.metrics_unit}", lay.metrics_dir


def _num(value: float) -> str:
    """A number as unit files write it: 2 for 2.0, 0.5 as is."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _target(lay: Layout, image: str, deploy: Mapping[str, Any]) -> str:
    return (
        f"{HEADER}# Every node process of {lay.app}: `systemctl restart {lay.target}` restarts them all.\n"
        f"[Unit]\nDescription=HORUS {lay.app} (image {image})\nWants={' '.join(lay.units(deploy))}\n"
        "After=network.target\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def _guard_unit(lay: Layout, deploy: Mapping[str, Any]) -> str:
    return f"""{HEADER}# At boot, before any node process of {lay.app} starts: a release the deploy switched to
# but never confirmed is replaced by the last confirmed one (see {lay.guard_script}).
[Unit]
Description=HORUS {lay.app}: back to the confirmed release if a deploy did not finish
Before={" ".join(lay.units(deploy))} {lay.target}
ConditionPathIsSymbolicLink={lay.current}

[Service]
Type=oneshot
ExecStart={lay.guard_script}
# Root: it re-points the release link the deploy owns. Confined to that directory.
ProtectSystem=strict
ReadWritePaths={lay.prefix}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
IPAddressDeny=any
RestrictAddressFamilies=AF_UNIX
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
"""


def guard_script(lay: Layout, deploy: Mapping[str, Any]) -> str:
    """The robot's own return to its confirmed release: at boot, and from the timer armed at each switch."""
    units = " ".join(lay.units(deploy))
    return f"""#!/bin/sh
{HEADER}# Return {lay.app} to its last confirmed release when the current one was switched to
# but never confirmed: the deploy that switched died (killed play, lost controller) or the robot
# rebooted before the deploy's health gate passed. The deploy confirms a release by writing its
# id to {lay.marker("healthy")}; `current` naming anything else is unconfirmed.
#   release-guard                    at boot, before the node units start ({lay.guard}.service)
#   release-guard --restart RELEASE  from the timer the deploy arms at its switch: acts only if
#                                    RELEASE is still current and unconfirmed, then restarts the nodes
set -eu
prefix={shlex.quote(lay.prefix)}
target={shlex.quote(lay.target)}
restart=no
if [ "${{1:-}}" = --restart ]; then restart=yes; shift; fi
only="${{1:-}}"

current=$(readlink "$prefix/current" 2>/dev/null || true)
current=${{current#releases/}}
confirmed=$(cat "$prefix/healthy" 2>/dev/null || true)
[ -n "$current" ] || exit 0
[ "$current" != "$confirmed" ] || exit 0
[ -z "$only" ] || [ "$only" = "$current" ] || exit 0

if [ -n "$confirmed" ] && [ -d "$prefix/releases/$confirmed" ]; then
    ln -sfn "releases/$confirmed" "$prefix/.current-new"
    mv -T "$prefix/.current-new" "$prefix/current"
    echo "release $current was never confirmed: back on confirmed release $confirmed"
    if [ "$restart" = yes ]; then
        systemctl reset-failed {units} || true
        systemctl restart --no-block "$target"
    fi
else
    rm -f "$prefix/current"
    echo "release $current was never confirmed and no release was before it: none runs"
    if [ "$restart" = yes ]; then systemctl stop --no-block "$target"; fi
fi
"""


def _env(lay: Layout, svc: Mapping[str, Any], deploy: Mapping[str, Any]) -> str:
    state = lay.state_dir(svc["name"])
    health = deploy["health"]
    env = {
        "HORUS_RECORDING_DIR": f"{state}/recordings",
        "HORUS_BLACKBOX_DIR": f"{state}/blackbox",
        "HORUS_NAMESPACE": lay.namespace,
        "HORUS_HEALTH_HOST": health["host"],
        "HORUS_HEALTH_PORT": str(health["port"]),
        "HORUS_PARAMS_FILE": lay.params_file,
        "PYTHONDONTWRITEBYTECODE": "1",
        **svc.get("environment", {}),
    }
    head = (
        f"{HEADER}# Environment of {lay.unit(svc['name'])}: read by systemd (root) at start,\n"
        "# readable by nobody else. Names and values were checked when the release was built and on the robot.\n"
        "# Scheduler(recording=True) and the black box (blackbox_mb=) write to the unit's StateDirectory\n"
        "# (the app's directory is read-only); the image's own environment may point them elsewhere.\n"
    )
    return head + "".join(f"{k}={v}\n" for k, v in sorted(env.items()))


def _horus_command(lay: Layout, user: str) -> str:
    return f"""#!/bin/sh
{HEADER}# `horus logs -f`, `horus monitor`, `horus clean --shm` for operators: the current release's
# horus, in the namespace and as the user of {lay.app}'s services.
set -eu
export HORUS_NAMESPACE="${{HORUS_NAMESPACE:-{lay.namespace}}}"
horus="{lay.current}/venv/bin/horus"
if [ ! -x "$horus" ]; then
    echo "horus: no release of {lay.app} is installed ({lay.current})" >&2
    exit 1
fi
case "$(id -un)" in
    {user}) exec "$horus" "$@" ;;
    root) exec runuser -u {user} -- env HORUS_NAMESPACE="$HORUS_NAMESPACE" "$horus" "$@" ;;
    *) echo "horus: run as root or {user} (the nodes' shared memory is theirs)" >&2; exit 1 ;;
esac
"""


def params(deploy: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The robot's horus.Params: the image's [params], the inventory's values over them (key by key)."""
    return {**(deploy.get("params") or {}), **overrides}


def index(lay: Layout, manifest: Mapping[str, Any], metrics: MetricsGateway | None = None) -> dict[str, Any]:
    """What fleet status and doctor read to find the app on a robot (no unit file parsing)."""
    deploy = manifest["deploy"]
    return {
        "app": lay.app,
        "prefix": lay.prefix,
        "namespace": lay.namespace,
        "current": lay.current,
        "manifest": f"{lay.current}/{MANIFEST_FILE}",
        "markers": {name: lay.marker(name) for name in MARKERS},
        "units": lay.units(deploy),
        "target": lay.target,
        "health": deploy["health"],
        "journald": lay.journald_conf,
        "horus": HORUS_COMMAND,
        "holds": lay.holds_dir,
        "metrics": {"unit": lay.metrics_unit, "listen": metrics.listen} if metrics else None,
    }


def robot_files(
    manifest: Mapping[str, Any],
    image: str,
    namespace: str = "",
    param_overrides: Mapping[str, Any] | None = None,
    start_limit: tuple[int, int] = (5, 60),
    metrics: MetricsGateway | None = None,
    journal: JournalUpload | None = None,
) -> list[RobotFile]:
    """Every directory and file a deploy of `manifest` writes (inventory: namespace, params, start limits,
    the metrics gateway, the journal upload), directories before what they hold; the image builder writes
    the same list into an image."""
    deploy = manifest["deploy"]
    check_deploy(deploy, manifest.get("prefix"), f"release {manifest.get('id')}")
    check(IMAGE, image, "the inventory", "horus_image", "an image name")
    lay = layout(manifest, namespace)
    user, group = deploy["user"], deploy["group"]
    overrides = dict(param_overrides or {})
    values = json.dumps(params(deploy, overrides), sort_keys=True, indent=4) + "\n"
    files = [
        RobotFile(lay.prefix, 0o755, "root", "root", None),
        RobotFile(STATE_DIR, 0o700, "root", "root", None),
        RobotFile(INCOMING_DIR, 0o700, "root", "root", None),
        RobotFile(lay.layers, 0o755, "root", "root", None),
        RobotFile(lay.releases, 0o755, "root", "root", None),
        RobotFile(JOURNALD_DIR, 0o755, "root", "root", None),
        RobotFile(lay.journald_conf, 0o644, "root", "root", _journald(lay, image, deploy)),
        RobotFile(
            lay.tmpfiles_conf,
            0o644,
            "root",
            "root",
            f"{HEADER}# The shared-memory namespace of {lay.app}'s nodes and each directory the runtime uses in\n"
            "# it, made by systemd at boot (before any user could plant one) with the service user as owner;\n"
            "# with --remove (boot, and a deploy starting stopped services) emptied in place, never removed.\n"
            f"D {lay.shm_dir} 0700 {user} {group} -\n"
            + "".join(f"d {lay.shm_dir}/{sub} 0700 {user} {group} -\n" for sub in SHM_SUBDIRS),
        ),
        RobotFile("/etc/horus", 0o755, "root", "root", None),
        RobotFile(APPS_DIR, 0o755, "root", "root", None),
        RobotFile(lay.env_dir, 0o700, "root", "root", None),
        RobotFile(lay.params_file, 0o640, "root", group, values),
        *(RobotFile(lay.env_file(s["name"]), 0o600, "root", "root", _env(lay, s, deploy)) for s in deploy["services"]),
        *(
            RobotFile(
                f"{UNIT_DIR}/{lay.unit(s['name'])}",
                0o644,
                "root",
                "root",
                _service_unit(lay, image, deploy, s, start_limit),
            )
            for s in deploy["services"]
        ),
        RobotFile(f"{UNIT_DIR}/{lay.target}", 0o644, "root", "root", _target(lay, image, deploy)),
        RobotFile(lay.guard_script, 0o755, "root", "root", guard_script(lay, deploy)),
        RobotFile(f"{UNIT_DIR}/{lay.guard}.service", 0o644, "root", "root", _guard_unit(lay, deploy)),
        RobotFile(HORUS_COMMAND, 0o755, "root", "root", _horus_command(lay, user)),
        RobotFile(
            lay.index_file,
            0o644,
            "root",
            "root",
            json.dumps(index(lay, manifest, metrics), sort_keys=True, indent=1) + "\n",
        ),
        *(_metrics_files(lay, image, deploy, metrics) if metrics else []),
        *(journal_upload_files(journal) if journal else []),
    ]
    return files


def _journald(lay: Layout, image: str, deploy: Mapping[str, Any]) -> str:
    journald = deploy["journald"]
    return (
        f"{HEADER}# journald retention for {lay.app} (image {image}).\n[Journal]\n"
        f"SystemMaxUse={journald['system_max_use']}\nMaxRetentionSec={journald['max_retention']}\n"
    )


def digest(rid: str, files: list[RobotFile], enabled: list[str]) -> str:
    """Everything a deploy decides on the robot, as one sha256 (`applied`): equal digests, nothing to write."""
    h = hashlib.sha256(f"release {rid}\nenabled {' '.join(enabled)}\n".encode())
    for f in files:
        h.update(f"{f.path}\0{f.mode:o}\0{f.owner}\0{f.group}\0".encode())
        h.update(b"dir" if f.text is None else hashlib.sha256(f.text.encode()).digest())
    return h.hexdigest()
