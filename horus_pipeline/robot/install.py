"""One verified install transaction on a robot. Standard library only; runs as root on the robot,
as the deploy role's `horus_release` module (ansible/roles/horus_robot/library/horus_release.py).

The controller hands over the exact bytes of the release manifest and its signature. `apply`
verifies those bytes against the robot's own trust anchor (contract.ALLOWED_SIGNERS, installed at
provisioning, rotated only by keyrings signed with a key it already trusts) and does everything
else from that one verified copy: nothing reads the manifest again.

    apply    trust, verify, refuse a downgrade or a robot of another kind; report the layers the
             robot lacks (the role pushes them as one archive and calls apply again); unpack them
             (sha256 against the verified manifest), assemble, smoke-test as the service user,
             write units and files (what they held is kept for revert), arm the guard, switch
             `current`, restart. A robot already on the release with the same files, running and
             answering 200, answers `noop` and nothing changes.
    health   the health gate's wait, on the robot: the endpoint asked every health_interval seconds
             until it answers 200 naming the release, for at most health_timeout seconds (one module
             run, not one per request: each costs seconds on a small robot); the role judges.
    gate     health, then, once the release answered 200, confirm: every unit active, `healthy`,
             `previous`, `serial`, `applied` written, the guard's timer disarmed, old releases and
             unused layers removed (one module run for the whole gate).
    revert   after a failed gate: the replaced files put back, `current` back on the confirmed
             release (never lost), restarted; the journal since the switch returned.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import assemble, contract, delta
from .system import InstallError, atomic_write, run
from .trust import checked_manifest, establish_trust, verified_manifest

# Seconds one health request may take on the robot.
HEALTH_REQUEST_TIMEOUT = 2.0
# Seconds between two looks at the nodes' update holds while a deploy waits at its switch.
HOLD_POLL = 1.0


@dataclass
class Request:
    """What the role passes: the signed bytes, and inventory data validated here."""

    image: str
    manifest: bytes = b""
    signature: bytes = b""
    namespace: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    start_limit: tuple[int, int] = (5, 60)
    signer_identity: str = "horus-release"
    allow_unsigned: bool = False
    allow_downgrade: bool = False
    bootstrap_signers: bytes = b""  # installed as the anchor when the robot has none, if bootstrap
    bootstrap_trust: bool = False
    keyrings: list[tuple[bytes, bytes]] = field(default_factory=list)  # (body, signature), oldest first
    layers_tar: str = ""
    layers_inline: bytes = b""  # the pushed tar itself, when small: written to layers_tar here
    rollback: bool = False
    prefix: str = ""  # rollback, confirm and revert: the app's prefix (from the apply's answer)
    app: str = ""
    release: str = ""  # apply: the release the controller asked for; confirm and revert: the one switched to
    digest: str = ""  # confirm: what apply computed
    fallback: str = ""  # revert: the release to return to
    since: float = 0.0  # revert: when the switch happened (journal lines since)
    confirm_timeout: int = 900
    health_timeout: int = 180
    health_interval: float = 0.5  # health: seconds between two requests
    keep_releases: int = 3
    smoke_imports: list[str] = field(default_factory=list)
    disk_margin_mb: int = 200
    hold_timeout: int = 600  # seconds a deploy waits at its switch while nodes hold updates
    ignore_holds: bool = False
    journal_lines: int = 40
    metrics: dict[str, Any] = field(default_factory=dict)  # the metrics gateway's settings; empty: none
    journal_upload: dict[str, Any] = field(default_factory=dict)  # the journal upload's settings; empty: none
    check_mode: bool = False


@dataclass
class Result:
    changed: bool = False
    status: str = ""  # noop | missing | switched | configured | confirmed | reverted | checked
    messages: list[str] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)
    diff: list[dict[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- trust


# ---------------------------------------------------------------- robot state


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def _current(lay: contract.Layout) -> str:
    try:
        return os.path.basename(os.readlink(lay.current))
    except OSError:
        return ""


def _systemctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return run(["systemctl", *args], check=check)


def _active(unit: str) -> bool:
    return _systemctl("is-active", "--quiet", unit, check=False).returncode == 0


def health_answer(deploy: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(HTTP status, release its process names) of the health endpoint, (None, None) when nobody answers."""
    try:
        with urllib.request.urlopen(health_url(deploy), timeout=HEALTH_REQUEST_TIMEOUT) as resp:
            status, body = resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
    except OSError:
        return None, None
    try:
        release = json.loads(body).get("release")
    except (ValueError, AttributeError):
        release = None
    return status, release if isinstance(release, str) else None


def health_url(deploy: Mapping[str, Any]) -> str:
    h = deploy["health"]
    return f"http://{h['host']}:{h['port']}{h['path']}"


def _ids(name: str, group: bool) -> int:
    return grp.getgrnam(name).gr_gid if group else pwd.getpwnam(name).pw_uid


def _ensure_account(deploy: Mapping[str, Any]) -> bool:
    """The service group and user: system accounts, nologin, no home. True when one was made."""
    made = False
    try:
        grp.getgrnam(deploy["group"])
    except KeyError:
        run(["groupadd", "--system", deploy["group"]])
        made = True
    try:
        pwd.getpwnam(deploy["user"])
    except KeyError:
        argv = ["useradd", "--system", "--gid", deploy["group"], "--shell", contract.SERVICE_SHELL]
        run([*argv, "--home-dir", contract.SERVICE_HOME, "--no-create-home", deploy["user"]])
        made = True
    return made


def _file_state(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- apply


def _missing(lay: contract.Layout, manifest: Mapping[str, Any], whole: set[str]) -> list[dict[str, Any]]:
    """The layers this robot lacks, each with what the controller is to send (`send`, `send_size`): its
    delta when the release offers one from a layer this robot has, it has the tools to apply it and the
    layer is not in `whole` (its delta failed here), else its archive. Names made here, never paths."""
    patching = delta.can_apply()
    missing = []
    for layer in manifest["layers"]:
        if os.path.isdir(lay.layer(layer["hash"])):
            continue
        archive = f"layers/{layer['hash']}.tar.gz"
        entry = {k: layer[k] for k in ("hash", "kind", "name", "version", "archive_size", "size")}
        entry |= {"archive": archive, "send": archive, "send_size": layer["archive_size"]}
        offer = layer.get("delta")
        if offer and patching and layer["hash"] not in whole and os.path.isdir(lay.layer(offer["from"])):
            entry |= {"send": delta.delta_archive(offer["from"], layer["hash"]), "send_size": offer["size"]}
        missing.append(entry)
    return missing


def _unpack_pushed(
    req: Request, lay: contract.Layout, manifest: Mapping[str, Any]
) -> tuple[list[str], set[str], list[str]]:
    """Unpack the layers of the pushed tar once every archive in it has the verified manifest's sha256
    (one bad archive and nothing is unpacked), then rebuild those sent as deltas (robot/delta.py checks
    each against the manifest; a failed one is left for its full archive). The hashes of the layers
    unpacked or rebuilt, those whose delta failed, and what to tell the operator."""
    layers = manifest["layers"]
    archives_of = {f"layers/{layer['hash']}.tar.gz": layer for layer in layers}
    deltas_of = {delta.delta_archive(la["delta"]["from"], la["hash"]): la for la in layers if "delta" in la}
    work = tempfile.mkdtemp(prefix=".unpack-", dir=lay.incoming)
    try:
        archives: list[tuple[str, str | None, int | None]] = []
        patches: list[tuple[str, dict[str, Any]]] = []
        with tarfile.open(req.layers_tar, "r:") as tar:
            for member in tar:
                layer = archives_of.get(member.name) or deltas_of.get(member.name)
                if layer is None or not member.isreg():
                    raise InstallError(
                        f"{req.layers_tar}: entry {member.name!r} is not a layer of the release or its delta: refused"
                    )
                if os.path.isdir(lay.layer(layer["hash"])):
                    continue
                path = os.path.join(work, os.path.basename(member.name))
                src = tar.extractfile(member)
                assert src is not None
                with src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, assemble.COPY_BUFSIZE)
                if member.name in archives_of:
                    archives.append((path, layer["archive_sha256"], int(layer["size"])))
                else:
                    patches.append((path, layer))
        os.unlink(req.layers_tar)  # taken apart: the disk holds what was sent once, then the layers
        digests = assemble.sha256_files([(a, os.path.getsize(a)) for a, _, _ in archives], assemble.jobs())
        for path, expected, _ in archives:
            if digests[path] != expected:
                layer = archives_of[f"layers/{os.path.basename(path)}"]
                raise InstallError(
                    f"{layer['archive']} ({layer['kind']} {layer['name']} {layer['version']}) is corrupt: sha256 "
                    f"{digests[path]}, the manifest says {expected}. Nothing was changed; rebuild the bundle with "
                    f"`nox -s bundle -- {req.image}`"
                )
        os.makedirs(lay.layers, mode=0o755, exist_ok=True)
        assemble.unpack_all(lay.prefix, archives, assemble.jobs(), hashed=True)  # hashed just above
        done = [os.path.basename(path)[: -len(".tar.gz")] for path, _, _ in archives]
        whole: set[str] = set()
        said: list[str] = []
        for path, layer in patches:
            offer = layer["delta"]
            try:  # checks the delta's sha256, then every rebuilt file against the signed index
                new, index = layer["hash"], layer["index_sha256"]
                delta.apply_delta(lay.prefix, path, offer["sha256"], offer["from"], new, index)
                done.append(layer["hash"])
            except delta.DeltaError as exc:
                whole.add(layer["hash"])
                said.append(f"the delta of {layer['kind']} {layer['name']} {layer['version']} was refused: {exc}")
            finally:
                os.unlink(path)
        return done, whole, said
    except (tarfile.TarError, OSError) as exc:
        raise InstallError(
            f"{req.layers_tar}: the pushed layers could not be read ({exc}): nothing was switched"
        ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ask_for(req: Request, lay: contract.Layout, missing: list[dict[str, Any]], result: Result) -> Result:
    """Answer `missing`: the layers to push (and the room for them checked), into a fresh incoming directory."""
    _room(lay, missing, req.disk_margin_mb)
    result.answer["missing"] = missing
    result.status = "missing"
    if not req.check_mode:
        os.makedirs(contract.INCOMING_DIR, mode=0o700, exist_ok=True)
        shutil.rmtree(lay.incoming, ignore_errors=True)
        os.makedirs(lay.incoming, mode=0o700)
    return result


def _room(lay: contract.Layout, missing: list[dict[str, Any]], margin_mb: int) -> None:
    """Refuse a robot without room for the missing layers (archive + unpacked + margin)."""
    where = lay.prefix
    while not os.path.isdir(where):
        where = os.path.dirname(where)
    free = shutil.disk_usage(where).free
    need = sum(int(m["send_size"]) + int(m["size"]) for m in missing) + margin_mb * 1048576
    if free < need:
        raise InstallError(
            f"{free / 1048576:.1f} MiB free under {where}; the {len(missing)} missing layers need {need / 1048576:.1f} "
            f"MiB (what is sent + unpacked + {margin_mb} MiB margin). Nothing was changed: free space first"
        )


def _release_manifest(lay: contract.Layout, rid: str) -> dict[str, Any] | None:
    """The manifest an assembled release of this robot was verified by; None without one."""
    if not rid or not os.path.isfile(lay.manifest(rid)):
        return None
    try:
        return assemble.load_manifest(lay.manifest(rid))
    except assemble.AssemblyError:
        return None


def _environment(manifest: Mapping[str, Any] | None) -> tuple[object, ...]:
    """What a release's smoke test imports from: its interpreter and every layer but the app's. A release
    with the confirmed release's environment (an app-only change) has passed that test already."""
    if manifest is None:
        return ()
    layers = sorted(layer["hash"] for layer in manifest["layers"] if layer["into"] != "app")
    return (json.dumps(manifest["target"], sort_keys=True), json.dumps(manifest["python"], sort_keys=True), *layers)


def _smoke(lay: contract.Layout, manifest: Mapping[str, Any], imports: list[str]) -> None:
    """Import horus and the release's packages as the service user, in the new release, before switching."""
    layers = manifest["layers"]
    modules = {m for layer in layers for m in layer.get("modules", [])}
    auto = [n.lower().replace("-", "_") for n in (layer["name"] for layer in layers if layer["kind"] == "package")]
    names = imports or ["horus", *[n for n in auto if n in modules]]
    for name in names:
        contract.check(assemble._DOTTED_NAME, name, "horus_robot_smoke_imports", "a module", "a dotted Python name")
    smoke = "sys.argv = ['horus.smoke']; runpy.run_module('horus.smoke', run_name='__main__')"
    code = f"import runpy, sys; import {', '.join(names)}; {smoke}"
    argv = ["runuser", "-u", manifest["deploy"]["user"], "--", lay.release_python(manifest["id"]), "-c", code]
    proc = subprocess.run(argv, capture_output=True, cwd="/", check=False)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).decode(errors="replace").strip()[-2000:]
        raise InstallError(
            f"release {manifest['id']} failed its smoke test before the switch (nothing switched): {said}"
        )


def update_holds(lay: contract.Layout, user: str) -> list[dict[str, Any]]:
    """The live update holds of the app's nodes, as the running release's own runtime lists them
    (`horus updates --json` as the service user); none when the running runtime predates holds."""
    horus = f"{lay.current}/venv/bin/horus"
    try:
        if not os.path.exists(horus) or not os.listdir(lay.holds_dir):
            return []  # no hold file at all: no need to start the runtime (seconds on a small robot)
    except OSError:
        return []  # no holds directory: nothing ever held updates
    argv = ["runuser", "-u", user, "--", "env", f"HORUS_NAMESPACE={lay.namespace}", horus, "updates", "--json"]
    try:
        proc = subprocess.run(argv, capture_output=True, cwd="/", timeout=60, check=False)
        found = json.loads(proc.stdout[: 1 << 20]) if proc.returncode == 0 else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []
    holds = []
    for h in found if isinstance(found, list) else []:
        if isinstance(h, dict):  # written by any process of the service user: shown as plain bounded text
            holds.append(
                {k: _plain(h.get(k)) for k in ("reason", "holder")} | {"since": h.get("since"), "pid": h.get("pid")}
            )
    return holds


def _plain(value: object) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(value))[:200]


def _wait_for_holds(
    req: Request, lay: contract.Layout, deploy: Mapping[str, Any], result: Result
) -> list[dict[str, Any]]:
    """Wait at the switch while the nodes hold updates, up to the hold timeout; the holds left then
    (none: switch). Everything before the switch is done, so a released hold switches within seconds."""
    deadline = time.monotonic() + req.hold_timeout
    while True:
        holds = update_holds(lay, deploy["user"])
        if not holds:
            return []
        if req.ignore_holds:
            said = "; ".join(f"{h['holder']}: {h['reason']}" for h in holds)
            result.messages.append(
                f"WARNING: switching despite {len(holds)} update hold(s) (horus_robot_ignore_holds): {said}"
            )
            return []
        if time.monotonic() >= deadline:
            return holds
        time.sleep(min(HOLD_POLL, max(0.1, deadline - time.monotonic())))


def _write_files(files: list[contract.RobotFile]) -> tuple[list[str], dict[str, str | None]]:
    """Write what differs; (paths written, what each held before: None for no file)."""
    written: list[str] = []
    before: dict[str, str | None] = {}
    for f in files:
        uid, gid = _ids(f.owner, False), _ids(f.group, True)
        if f.text is None:
            os.makedirs(f.path, exist_ok=True)
            st = os.lstat(f.path)
            if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (f.mode, uid, gid):
                os.chown(f.path, uid, gid)
                os.chmod(f.path, f.mode)
            continue
        old = _file_state(f.path)
        try:
            st = os.lstat(f.path)
            same_meta = (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (f.mode, uid, gid)
        except OSError:
            same_meta = False
        if old == f.text and same_meta:
            continue
        atomic_write(f.path, f.text.encode(), f.mode, uid, gid)
        written.append(f.path)
        before[f.path] = old
    return written, before


def _prune_units(lay: contract.Layout, keep: list[str]) -> list[str]:
    """Stop and remove units of the app (only those carrying its marker) the release no longer has."""
    removed = []
    for name in sorted(os.listdir(contract.UNIT_DIR)):
        if not (name.startswith(f"{lay.app}-") and name.endswith(".service")) or name in keep:
            continue
        path = os.path.join(contract.UNIT_DIR, name)
        if lay.marker_line not in (_file_state(path) or "").splitlines()[:3]:
            continue
        _systemctl("disable", "--now", "--quiet", name, check=False)
        os.unlink(path)
        service = name[len(lay.app) + 1 : -len(".service")]
        with contextlib.suppress(OSError):
            os.unlink(lay.env_file(service))
        removed.append(name)
    return removed


def _remove_addon(unit: str, marked: str, marker: str, paths: tuple[str, ...]) -> list[str]:
    """Stop and remove what a deploy set up beside the nodes (the metrics gateway, the journal upload)
    once the inventory no longer asks for it; only when `marked` carries the deploy's `marker` line
    near its top (nothing an operator wrote). The caller reloads systemd for what was removed."""
    if marker not in (_file_state(marked) or "").splitlines()[:3]:
        return []
    _systemctl("disable", "--now", "--quiet", unit, check=False)
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return [unit]


def _switch(lay: contract.Layout, rid: str) -> None:
    """`current` -> releases/<rid>: a temporary link renamed over it (rename(2) is atomic)."""
    tmp = f"{lay.prefix}/.current-new"
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    os.symlink(f"releases/{rid}", tmp)
    os.rename(tmp, lay.current)


def _arm_guard(lay: contract.Layout, rid: str, timeout: int) -> None:
    """Unless confirm runs within `timeout` seconds, the robot goes back to its confirmed release by itself."""
    _systemctl("stop", f"{lay.guard_timer}.timer", check=False)
    _systemctl("reset-failed", f"{lay.guard_timer}.service", f"{lay.guard_timer}.timer", check=False)
    argv = ["systemd-run", "--quiet", "--collect", f"--unit={lay.guard_timer}", f"--on-active={timeout}"]
    run([*argv, "--timer-property=AccuracySec=1s", lay.guard_script, "--restart", rid])


def apply(req: Request) -> Result:
    result = Result()
    if req.rollback:
        return _rollback(req, result)
    manifest = verified_manifest(req, establish_trust(req, result), result)
    return _install(req, manifest, result)


def _rollback(req: Request, result: Result) -> Result:
    """rollback.yml: the release before the confirmed one, with the units it was installed with (its own
    MANIFEST.json, checked file by file), behind the same gate."""
    base = contract.Layout(prefix=req.prefix, app=req.app, namespace=req.namespace or req.app)
    previous = _read(base.marker("previous"))
    if not previous:
        raise InstallError(f"no previous release to roll back to (healthy: {_read(base.marker('healthy')) or 'none'})")
    path = base.manifest(previous)
    manifest = checked_manifest(assemble.load_manifest(path), path)
    assemble.verify_release(base.prefix, manifest, base.release(previous))
    return _install(req, manifest, result, rollback=True)


def _check_host(manifest: dict[str, Any], image: str) -> None:
    """Refuse a robot of another kind before anything changes: systemd as PID 1, the CPU, Python."""
    target = manifest["target"]
    machine = assemble._ARCH_ALIASES.get(os.uname().machine, os.uname().machine)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    systemd = os.path.isdir("/run/systemd/system")
    if not systemd or machine != target["arch"] or python != target["python"]:
        raise InstallError(
            f"this robot runs {'systemd' if systemd else 'no systemd'} as PID 1 on {machine} with Python {python}; "
            f"release {manifest['id']} of {image} needs systemd, {target['arch']} and Python {target['python']}. "
            "Nothing was changed: deploy the image built for this robot"
        )
    assemble.check_robot(manifest)


def _install(req: Request, manifest: dict[str, Any], result: Result, rollback: bool = False) -> Result:
    deploy = manifest["deploy"]
    lay = contract.layout(manifest, req.namespace)
    rid = manifest["id"]
    _check_host(manifest, req.image)
    serial = int(_read(lay.marker("serial")) or 0)
    if not (rollback or req.allow_downgrade) and int(manifest.get("serial", 0)) < serial:
        raise InstallError(
            f"release {rid} has serial {manifest.get('serial', 0)}, older than serial {serial} which this robot "
            "already ran: a downgrade, refused; nothing was changed. To go back on purpose, run ansible/rollback.yml, "
            "or deploy with -e horus_robot_allow_downgrade=true"
        )
    gateway = contract.metrics_gateway(req.metrics, lay.app) if req.metrics.get("listen") else None
    upload = contract.journal_upload(req.journal_upload) if req.journal_upload.get("url") else None
    files = contract.robot_files(manifest, req.image, req.namespace, req.params, req.start_limit, gateway, upload)
    enabled = lay.enabled(deploy, metrics=gateway is not None, journal=upload is not None)
    digest = contract.digest(rid, files, enabled)
    current, healthy = _current(lay), _read(lay.marker("healthy"))
    answer: dict[str, Any] = {
        "release": rid,
        "prefix": lay.prefix,
        "app": lay.app,
        "digest": digest,
        "health_url": health_url(deploy),
        "current": current,
        "healthy": healthy,
        "layers_tar": lay.pushed_layers,
        "serial": int(manifest.get("serial", 0)),
    }
    result.answer = answer
    if current == rid == healthy and _read(lay.applied) == digest and _active(lay.target):
        status, said = health_answer(deploy)
        if status == 200 and said == rid:
            result.status = "noop"
            return result
    if req.layers_inline:  # what a copy to layers_tar would have written, in this call
        if req.layers_tar != lay.pushed_layers:
            raise InstallError(f"layers_inline is written to {lay.pushed_layers} only, not {req.layers_tar!r}")
        os.makedirs(lay.incoming, mode=0o700, exist_ok=True)
        atomic_write(req.layers_tar, req.layers_inline, 0o600)
    missing = _missing(lay, manifest, set())
    if missing and not req.layers_tar:
        result.changed = req.check_mode  # in check mode, the push that would follow is all it says
        return _ask_for(req, lay, missing, result)
    if req.check_mode:
        result.changed = True
        result.status = "checked"
        result.diff = [
            {"before_header": f.path, "after_header": f.path, "before": _file_state(f.path) or "", "after": f.text}
            if not f.secret
            else {"before_header": f.path, "after_header": f.path, "before": "", "after": "(secret: changed)\n"}
            for f in files
            if f.text is not None and _file_state(f.path) != f.text
        ]
        return result
    result.changed = True
    lap = _laps(answer.setdefault("seconds", {}))  # where a slow robot's deploy goes (ansible -v shows it)
    unpacked: list[str] = []
    whole: set[str] = set()
    try:
        if req.layers_tar:
            unpacked, whole, refusals = _unpack_pushed(req, lay, manifest)
            answer["unpacked"] = len(unpacked)
            result.messages += refusals
    finally:
        shutil.rmtree(lay.incoming, ignore_errors=True)
    lap("unpack")
    if whole and (missing := _missing(lay, manifest, whole)):
        return _ask_for(req, lay, missing, result)  # a refused delta: its full archive next
    running = _release_manifest(lay, current)
    # Layers whose bytes are known good: unpacked now from archives of the signed sha256, or shared
    # with the running release, whose assembly checked them. Only the others are hashed file by file.
    trusted = {*unpacked, *(layer["hash"] for layer in (running or {}).get("layers", []))}
    made = _ensure_account(deploy)
    for directory in (lay.layers, lay.releases):
        os.makedirs(directory, mode=0o755, exist_ok=True)
    release_dir = lay.release(rid)
    if not os.path.isdir(release_dir):
        assemble.assemble_release(lay.prefix, manifest, trusted)
        if req.signature:  # kept with the release: what the robot verified it by
            with open(lay.signature(rid), "wb") as sig:
                sig.write(req.signature)
    elif rid != current:
        assemble.verify_release(lay.prefix, manifest, release_dir, trusted=trusted)
    lap("assemble")
    # The smoke test keeps a running release from being switched away for a broken environment. A
    # robot with no confirmed release has none to keep: its health gate judges (and shows the journal)
    # without the smoke test's own start of every module, a quarter of a minute on a small robot.
    confirmed = running if healthy == current else _release_manifest(lay, healthy)
    if healthy and rid != healthy and _environment(manifest) != _environment(confirmed):
        _smoke(lay, manifest, req.smoke_imports)
    lap("smoke test")
    was_active = _active(lay.target)
    changing = [f.path for f in files if f.text is not None and _file_state(f.path) != f.text]
    # Changed alone, the gateway or the journal upload restarts, not the nodes.
    gateway_files = contract.metrics_paths(lay)
    beside = (*gateway_files, *contract.JOURNAL_UPLOAD_PATHS)
    restart = (
        current != rid
        or healthy != rid
        or not was_active
        or any(
            p.startswith((contract.UNIT_DIR, lay.env_dir, lay.params_file)) and not p.startswith(beside)
            for p in changing
        )
    )
    holds = _wait_for_holds(req, lay, deploy, result) if restart and current else []
    lap("update holds")
    if holds:
        answer["holds"] = holds
        result.status = "held"
        return result
    written, before = _write_files(files)
    answer["written"] = written
    removed = _prune_units(lay, lay.units(deploy))
    if not gateway:
        removed += _remove_addon(lay.metrics_unit, gateway_files[0], lay.marker_line, gateway_files)
    if not upload:
        journal = contract.JOURNAL_UPLOAD_PATHS
        removed += _remove_addon(
            contract.JOURNAL_UPLOAD_UNIT, contract.JOURNAL_UPLOAD_DROPIN, contract.HEADER_LINE, journal
        )
    # `systemctl enable` reloads systemd by itself even when every link is there already (about 2 s
    # on a small robot, each deploy). Asked not to, it says which links it made: then, or when a
    # unit file changed, one reload takes both in.
    enabling = _systemctl("enable", "--no-reload", *enabled)
    linked = b"Created symlink" in enabling.stdout + enabling.stderr
    if linked or removed or any(p.startswith(contract.UNIT_DIR) for p in written):
        _systemctl("daemon-reload")
    if lay.journald_conf in written:
        _systemctl("restart", "systemd-journald.service", check=False)
    if lay.tmpfiles_conf in written or made:
        run(["systemd-tmpfiles", "--create", lay.tmpfiles_conf])
    if upload and any(p.startswith(contract.JOURNAL_UPLOAD_PATHS) for p in written):
        _systemctl("restart", "--no-block", contract.JOURNAL_UPLOAD_UNIT)
    undo = {"release": rid, "before": before, "digest": _read(lay.applied)}
    atomic_write(lay.undo, (json.dumps(undo, sort_keys=True) + "\n").encode(), 0o600)
    answer["fallback"] = next((r for r in (healthy, _read(lay.marker("previous"))) if r), "")
    answer["since"] = time.time()
    lap("files")
    if not restart:
        if gateway and any(p.startswith(gateway_files) for p in written):
            _systemctl("restart", "--no-block", lay.metrics_unit)
        result.status = "configured"
        return result
    if not was_active:
        result.messages += _take_back_namespace(lay, deploy)
    _systemctl("reset-failed", *lay.units(deploy), check=False)
    _arm_guard(lay, rid, req.confirm_timeout)
    _switch(lay, rid)
    _systemctl("restart", "--no-block", lay.target)
    lap("switch")
    result.status = "switched"
    return result


def _laps(into: dict[str, float]) -> Callable[[str], None]:
    """A function that notes, under a name, the seconds since its previous call."""
    last = [time.monotonic()]

    def lap(name: str) -> None:
        now = time.monotonic()
        into[name] = round(now - last[0], 2)
        last[0] = now

    return lap


def _take_back_namespace(lay: contract.Layout, deploy: Mapping[str, Any]) -> list[str]:
    """Before stopped services start: the shared-memory namespace a real directory of the service user's,
    emptied in place. Another local user may have planted a link or a directory at its name (/dev/shm is
    everyone's); that is removed, never followed. The directory itself is never removed, so no other user
    can take its name between the clean and the start (systemd-tmpfiles: `D` empties, `d` makes the rest)."""
    path, uid = lay.shm_dir, pwd.getpwnam(deploy["user"]).pw_uid
    said = []
    found = _lstat(path)
    if found is not None and not (stat.S_ISDIR(found.st_mode) and found.st_uid == uid):
        what = "a symlink" if stat.S_ISLNK(found.st_mode) else f"owned by uid {found.st_uid}"
        if stat.S_ISDIR(found.st_mode):
            shutil.rmtree(path)  # never follows a link inside
        else:
            os.unlink(path)
        said.append(f"{path} was {what}, not the service user's ({deploy['user']}): removed, made again")
    run(["systemd-tmpfiles", "--create", "--remove", lay.tmpfiles_conf])
    made = _lstat(path)
    if made is None or not stat.S_ISDIR(made.st_mode) or made.st_uid != uid:
        raise InstallError(
            f"{path} is not the service user's directory even after systemd-tmpfiles made it: another local user "
            f"is taking the name; find who (ls -la {path}), stop them, and deploy again"
        )
    return said


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- confirm and revert


def _layout_of(req: Request) -> contract.Layout:
    contract.check(contract.PREFIX, req.prefix, "the role", "prefix", "an absolute path")
    contract.check(contract.NAME, req.app, "the role", "app", "an app name")
    contract.check(contract.RELEASE_ID, req.release, "the role", "release", "a release id")
    return contract.Layout(prefix=req.prefix, app=req.app, namespace=req.namespace or req.app)


def health(req: Request) -> Result:
    """Wait for the release's endpoint to answer 200 naming `req.release`; say what it answered last."""
    lay = _layout_of(req)
    deploy = assemble.load_manifest(lay.manifest(req.release))["deploy"]
    started = time.monotonic()
    while True:
        status, said = health_answer(deploy)
        ok = status == 200 and said == req.release
        if ok or time.monotonic() - started >= req.health_timeout:
            break
        time.sleep(req.health_interval)
    result = Result(status="healthy" if ok else "unhealthy")
    result.answer = {"ok": ok, "http_status": status, "release": said, "seconds": round(time.monotonic() - started, 1)}
    return result


def gate(req: Request) -> Result:
    """The health gate in one module run: `health`, then, when the release answered 200, `confirm`
    (one Python start less per deploy: seconds on a small robot). InstallError when a unit is not active."""
    judged = health(req)
    if not judged.answer["ok"]:
        return judged
    confirmed = confirm(req)
    confirmed.answer |= judged.answer
    return confirmed


def confirm(req: Request) -> Result:
    """The health gate passed: every unit active, then the release confirmed and the robot tidied."""
    lay = _layout_of(req)
    manifest = assemble.load_manifest(lay.manifest(req.release))
    units = lay.units(manifest["deploy"])
    deadline = time.monotonic() + req.health_timeout
    while True:
        down = [u for u in units if not _active(u)]
        if not down:
            break
        if time.monotonic() > deadline:
            raise InstallError(f"{', '.join(down)} not active {req.health_timeout}s after the switch")
        time.sleep(1)
    result = Result(changed=True, status="confirmed")
    healthy = _read(lay.marker("healthy"))
    if healthy and healthy != req.release:
        atomic_write(lay.marker("previous"), f"{healthy}\n".encode(), 0o644)
    atomic_write(lay.marker("healthy"), f"{req.release}\n".encode(), 0o644)
    serial = max(int(_read(lay.marker("serial")) or 0), int(manifest.get("serial", 0)))
    if not req.rollback:
        atomic_write(lay.marker("serial"), f"{serial}\n".encode(), 0o644)
    atomic_write(lay.applied, f"{req.digest}\n".encode(), 0o644)
    _systemctl("stop", f"{lay.guard_timer}.timer", check=False)
    with contextlib.suppress(OSError):
        os.unlink(lay.undo)
    result.answer["removed"] = _cleanup(lay, req.release, req.keep_releases)
    return result


def _cleanup(lay: contract.Layout, rid: str, keep: int) -> list[str]:
    """Keep the current, previous and the newest `keep` releases; remove the rest, the layers none of the
    kept releases uses, and what interrupted runs left (each renamed aside first, so never half-deleted
    under its own name)."""
    releases = [e for e in os.scandir(lay.releases) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    newest = [e.name for e in sorted(releases, key=lambda e: -e.stat(follow_symlinks=False).st_mtime)][:keep]
    kept = {rid, _read(lay.marker("previous")), _current(lay), *newest} - {""}
    gone = [e.path for e in releases if e.name not in kept]
    used: set[str] = set()
    for name in kept:
        try:
            used |= {layer["hash"] for layer in assemble.load_manifest(lay.manifest(name))["layers"]}
        except assemble.AssemblyError:
            continue
    gone += [e.path for e in os.scandir(lay.layers) if e.is_dir(follow_symlinks=False) and e.name not in used and used]
    for directory in (lay.releases, lay.layers, lay.prefix):
        gone += [e.path for e in os.scandir(directory) if e.name.startswith(".") and ".tmp-" in e.name]
    for path in gone:
        head, name = os.path.split(path)
        aside = path if name.startswith(".") else os.path.join(head, f".{name}.tmp-removing")
        if aside != path:
            os.rename(path, aside)
        shutil.rmtree(aside, ignore_errors=True)
    return sorted(os.path.basename(p) for p in gone)


def revert(req: Request) -> Result:
    """The release failed its gate: put back what the deploy replaced and the confirmed release (never none
    when there is one), restart it, and return the journal since the switch."""
    lay = _layout_of(req)
    result = Result(changed=True, status="reverted")
    journal = run(
        [
            "journalctl",
            "--no-pager",
            "-o",
            "short-precise",
            "-n",
            str(req.journal_lines),
            "--since",
            f"@{int(req.since)}",
            "-u",
            f"{lay.app}-*.service",
        ],
        check=False,
    )
    result.answer["journal"] = journal.stdout.decode(errors="replace")
    try:
        with open(lay.undo, encoding="utf-8") as f:
            undo = json.load(f)
    except (OSError, ValueError):
        undo = {"before": {}}
    for path, text in undo.get("before", {}).items():
        if text is None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        else:
            st = os.lstat(path) if os.path.lexists(path) else None
            uid, gid = (st.st_uid, st.st_gid) if st else (0, 0)
            atomic_write(path, text.encode(), (st.st_mode & 0o7777) if st else 0o644, uid, gid)
    _systemctl("daemon-reload", check=False)
    with contextlib.suppress(OSError):
        os.unlink(lay.undo)
    back = req.fallback if req.fallback and os.path.isdir(lay.release(req.fallback)) else ""
    if back:
        _switch(lay, back)
        manifest = assemble.load_manifest(lay.manifest(back))
        _systemctl("reset-failed", *lay.units(manifest["deploy"]), check=False)
        _systemctl("restart", "--no-block", lay.target, check=False)
        result.answer["back_to"] = back
    else:
        _systemctl("stop", "--no-block", lay.target, check=False)
        with contextlib.suppress(OSError):
            os.unlink(lay.current)
        result.answer["back_to"] = ""
    _systemctl("stop", f"{lay.guard_timer}.timer", check=False)
    return result


def b64(text: str) -> bytes:
    return base64.b64decode(text.encode()) if text else b""
