"""The root filesystem of a robot image: the image's base rootfs with a release installed and
confirmed as the deploy role would leave it, and nothing of any one robot in it.

Steps, each as the role does it on a live robot (ansible/roles/horus_robot/tasks):
  1. the cached base rootfs of the image spec (sim/rootfs.py), copied;
  2. the service group and user (install.yml), system accounts with a nologin shell;
  3. every directory and file of the role's unconditional tasks, rendered from its templates (role.py);
  4. the release's layers unpacked and assembled by the release's own assembly tool, run inside
     the tree by the tree's Python (systemd-nspawn, qemu-user for arm64), and the role's units
     enabled there by `systemctl enable`;
  5. `current` pointing at the release and the release confirmed (`healthy`), as after a deploy
     whose health gate passed;
  6. per-robot identity left to the first boot: /etc/machine-id empty (systemd's first-boot
     semantics), no SSH host keys; a oneshot unit makes them before sshd starts.
Every mtime is then clamped to SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import os
import shlex
import tarfile
import tempfile
from pathlib import Path

from ..bundle.release import ReleaseManifest
from ..console import step
from ..determinism import child_env, sha256_file, source_date_epoch
from ..errors import PipelineError
from ..images import ImageSpec
from ..proc import run
from ..sim.fleet import HOST_KEY_TYPES, HOST_KEYS_CONF, deploy_account
from ..sim.rootfs import clamp_mtimes, ensure_rootfs, run_in_rootfs
from .role import Account, RoleFile, enabled_units, role_files, service_account

# Made at first boot, before sshd: every robot flashed from one image gets host keys of its own.
FIRST_BOOT_UNIT = "horus-ssh-host-keys.service"
_FIRST_BOOT_TEXT = """\
# HORUS robot image: this robot's own SSH host keys, made at its first boot (the image holds none).
[Unit]
Description=SSH host keys of this robot, made at first boot
DefaultDependencies=no
After=local-fs.target
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
{exec}
[Install]
WantedBy=ssh.service
"""


def build_root(
    spec: ImageSpec, manifest: ReleaseManifest, bundle: Path, root: Path, deploy_key: str | None = None
) -> None:
    """Fill the empty directory `root` with the image's root filesystem carrying `manifest`'s release;
    with `deploy_key`, the account Ansible logs in as (sim/fleet.py: deploy_account) takes that key."""
    base = ensure_rootfs(spec)
    with step(f"Installing release {manifest['id']} of {spec.name} into the image's root filesystem"):
        run(["cp", "-a", f"{base}/.", str(root)], what=f"copying the base rootfs {base}")
        _accounts(root, service_account(spec, manifest))
        for entry in role_files(spec, manifest):
            _write(root, entry)
        _assemble(spec, manifest, bundle, root)
        _confirm(root, manifest)
        _first_boot(root)
        if deploy_key:
            deploy_account(root, deploy_key)
        clamp_mtimes(root, source_date_epoch())


def _accounts(root: Path, account: Account) -> None:
    """The service group and user, as install.yml makes them (shadow honours SOURCE_DATE_EPOCH)."""
    env = child_env(inherit=False)
    if account.group not in _names(root / "etc/group"):
        argv = ["groupadd", "--root", str(root), "--system", account.group]
        run(argv, env=env, what=f"group {account.group} in the image")
    if account.user not in _names(root / "etc/passwd"):
        argv = ["useradd", "--root", str(root), "--system", "--gid", account.group, "--shell", account.shell]
        argv += ["--home-dir", account.home, "--no-create-home", account.user]
        run(argv, env=env, what=f"user {account.user} in the image")


def _names(path: Path) -> dict[str, int]:
    """name -> id of an /etc/passwd or /etc/group file."""
    rows = (line.split(":") for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {row[0]: int(row[2]) for row in rows}


def _write(root: Path, entry: RoleFile) -> None:
    path = root / entry.path.lstrip("/")
    if entry.text is None:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.write_text(entry.text, encoding="utf-8")
    uid = _names(root / "etc/passwd")[entry.owner]
    gid = _names(root / "etc/group")[entry.group]
    os.chown(path, uid, gid)
    path.chmod(entry.mode)


def _tool(manifest: ReleaseManifest, bundle: Path, into: Path) -> None:
    """The release's assembly tool, from its layer archive once its sha256 is the manifest's."""
    layer = next(layer for layer in manifest["layers"] if layer["kind"] == "tool")
    archive = bundle / layer["archive"]
    if not archive.is_file() or sha256_file(archive) != layer["archive_sha256"]:
        raise PipelineError(
            f"{archive} is missing or is not the archive release {manifest['id']} names: "
            f"rebuild the bundle with `nox -s bundle -- {manifest['image']}`"
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _assemble(spec: ImageSpec, manifest: ReleaseManifest, bundle: Path, root: Path) -> None:
    """Unpack and assemble the release with its own tool inside the tree, then enable the role's units."""
    prefix, rid = manifest["prefix"], manifest["id"]
    incoming = f"{prefix}/.incoming"  # the role's own staging directory, removed afterwards as the role does
    python = "/usr/bin/python3"
    archives = [f"{incoming}/bundle/{layer['archive']}" for layer in manifest["layers"]]
    release = f"{incoming}/bundle/releases/{rid}.json"
    tool_layer = next(layer["hash"] for layer in manifest["layers"] if layer["kind"] == "tool")
    units = [*enabled_units(spec, manifest), FIRST_BOOT_UNIT]
    script = " && ".join(
        [
            shlex.join(
                [python, f"{incoming}/tool/assemble.py", "unpack", "--root", prefix, "--manifest", release, *archives]
            ),
            shlex.join([python, f"{prefix}/layers/{tool_layer}/assemble.py", "assemble", "--root", prefix, release]),
            shlex.join(["systemctl", "enable", "--quiet", *units]),
        ]
    )
    _write_first_boot_unit(root)
    resolv = root / "etc/resolv.conf"
    had_resolv = resolv.exists() or resolv.is_symlink()
    with tempfile.TemporaryDirectory(prefix="horus-image-tool-") as tool:
        _tool(manifest, bundle, Path(tool))
        run_in_rootfs(
            root,
            ["sh", "-ec", script],
            ro_binds=[(bundle, f"{incoming}/bundle"), (Path(tool), f"{incoming}/tool")],
            what=f"assembling release {rid} in the image",
        )
    run(["rm", "-rf", "--one-file-system", str(root / incoming.lstrip("/"))], what="removing the staging directory")
    if not had_resolv:
        resolv.unlink(missing_ok=True)  # nspawn's copy of the build host's: the base rootfs ships none


def _confirm(root: Path, manifest: ReleaseManifest) -> None:
    """`current` -> the release, confirmed: what run.yml leaves once the health gate passed."""
    prefix = root / manifest["prefix"].lstrip("/")
    (prefix / "current").symlink_to(f"releases/{manifest['id']}")
    (prefix / "healthy").write_text(f"{manifest['id']}\n", encoding="utf-8")
    (prefix / "healthy").chmod(0o644)


def _write_first_boot_unit(root: Path) -> None:
    keygen = (
        f'ExecStart=/usr/bin/ssh-keygen -q -t {kind} -N "" -C "" -f /etc/ssh/ssh_host_{kind}_key\n'
        for kind in HOST_KEY_TYPES
    )
    (root / "etc/systemd/system" / FIRST_BOOT_UNIT).write_text(_FIRST_BOOT_TEXT.format(exec="".join(keygen)))


def _first_boot(root: Path) -> None:
    """No identity of any one robot: no host keys, an empty machine id; sshd reads the keys made at boot."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "etc/ssh/sshd_config.d/host-keys.conf").write_text(HOST_KEYS_CONF)
