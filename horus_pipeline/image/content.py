"""The root filesystem of a robot image: the image's base rootfs with a release installed and
confirmed as a deploy would leave it, and nothing of any one robot in it.

Steps, each as the deploy's transaction does it on a live robot (horus_pipeline/robot/install.py),
every name and file text from the robot contract (horus_pipeline/robot/contract.py):
  1. the cached base rootfs of the image spec (sim/rootfs.py), copied;
  2. the service group and user, system accounts with a nologin shell and no home;
  3. every directory and file a deploy writes (contract.robot_files), and the trust anchor when
     the image is given allowed signers;
  4. the release's layers unpacked and assembled by the release's own assembly tool, run inside
     the tree by the tree's Python (systemd-nspawn, qemu-user for arm64), and its units enabled
     there by `systemctl enable`: from the verified manifest bytes and the checked copies of the
     layer archives (trusted.py), never from dist/bundles;
  5. `current` pointing at the release and the release confirmed (`healthy`, `serial`, `applied`),
     as after a deploy whose health gate passed, with the signature it was verified by;
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
from ..robot import contract
from ..sim.fleet import HOST_KEY_TYPES, HOST_KEYS_CONF, deploy_account
from ..sim.rootfs import clamp_mtimes, ensure_rootfs, run_in_rootfs
from .trusted import TrustedRelease, archive_name

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
    spec: ImageSpec,
    release: TrustedRelease,
    bundle: Path,
    root: Path,
    deploy_key: str | None = None,
    allowed_signers: bytes | None = None,
) -> None:
    """Fill the empty directory `root` with the image's root filesystem carrying the verified `release`,
    assembled from `bundle` (trusted.stage's copy); with `deploy_key`, the account Ansible logs in as
    (sim/fleet.py: deploy_account) takes that key; with `allowed_signers`, the robot's trust anchor is
    that allowed-signers text."""
    manifest = release.manifest
    base = ensure_rootfs(spec)
    files = contract.robot_files(manifest, spec.name)
    with step(f"Installing release {manifest['id']} of {spec.name} into the image's root filesystem"):
        run(["cp", "-a", f"{base}/.", str(root)], what=f"copying the base rootfs {base}")
        _accounts(root, manifest["deploy"]["user"], manifest["deploy"]["group"])
        for entry in files:
            _write(root, entry)
        if allowed_signers is not None:
            _write(root, contract.RobotFile(contract.TRUST_DIR, 0o755, "root", "root", None))
            anchor = allowed_signers.decode("utf-8", errors="strict")
            _write(root, contract.RobotFile(contract.ALLOWED_SIGNERS, 0o644, "root", "root", anchor))
        _assemble(manifest, bundle, root)
        _confirm(root, release, files)
        _first_boot(root)
        if deploy_key:
            deploy_account(root, deploy_key)
        clamp_mtimes(root, source_date_epoch())


def _accounts(root: Path, user: str, group: str) -> None:
    """The service group and user, as a deploy makes them (shadow honours SOURCE_DATE_EPOCH)."""
    env = child_env(inherit=False)
    if group not in _names(root / "etc/group"):
        run(["groupadd", "--root", str(root), "--system", group], env=env, what=f"group {group} in the image")
    if user not in _names(root / "etc/passwd"):
        argv = ["useradd", "--root", str(root), "--system", "--gid", group, "--shell", contract.SERVICE_SHELL]
        argv += ["--home-dir", contract.SERVICE_HOME, "--no-create-home", user]
        run(argv, env=env, what=f"user {user} in the image")


def _names(path: Path) -> dict[str, int]:
    """name -> id of an /etc/passwd or /etc/group file."""
    rows = (line.split(":") for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {row[0]: int(row[2]) for row in rows}


def _write(root: Path, entry: contract.RobotFile) -> None:
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
    archive = bundle / archive_name(layer["hash"])
    if not archive.is_file() or sha256_file(archive) != layer["archive_sha256"]:
        raise PipelineError(
            f"{archive} is missing or is not the archive release {manifest['id']} names: "
            f"rebuild the bundle with `nox -s bundle -- {manifest['image']}`"
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _assemble(manifest: ReleaseManifest, bundle: Path, root: Path) -> None:
    """Unpack and assemble the release with its own tool inside the tree, then enable its units."""
    lay = contract.layout(manifest)
    prefix, rid = lay.prefix, manifest["id"]
    incoming = lay.incoming  # the deploy's own staging directory, removed afterwards as a deploy does
    python = contract.PYTHON
    archives = [f"{incoming}/bundle/{archive_name(layer['hash'])}" for layer in manifest["layers"]]
    release = f"{incoming}/bundle/releases/{rid}.json"
    tool_layer = next(layer["hash"] for layer in manifest["layers"] if layer["kind"] == "tool")
    units = [*lay.enabled(manifest["deploy"]), FIRST_BOOT_UNIT]
    script = " && ".join(
        [
            shlex.join(
                [python, f"{incoming}/tool/assemble.py", "unpack", "--root", prefix, "--manifest", release, *archives]
            ),
            shlex.join([python, f"{lay.layer(tool_layer)}/assemble.py", "assemble", "--root", prefix, release]),
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


def _confirm(root: Path, release: TrustedRelease, files: list[contract.RobotFile]) -> None:
    """`current` -> the release, confirmed: what a deploy leaves once the health gate passed, the signature
    it was verified by beside its manifest."""
    manifest = release.manifest
    lay = contract.layout(manifest)
    rid = manifest["id"]
    (root / lay.current.lstrip("/")).symlink_to(f"releases/{rid}")
    digest = contract.digest(rid, files, lay.enabled(manifest["deploy"]))
    for path, text in (
        (lay.marker("healthy"), rid),
        (lay.marker("serial"), str(manifest.get("serial", 0))),
        (lay.applied, digest),
    ):
        _write(root, contract.RobotFile(path, 0o644, "root", "root", f"{text}\n"))
    if release.signature:  # as the robot keeps what it was sent, verified or not
        signature = release.signature.decode("utf-8", errors="replace")
        _write(root, contract.RobotFile(lay.signature(rid), 0o644, "root", "root", signature))


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
