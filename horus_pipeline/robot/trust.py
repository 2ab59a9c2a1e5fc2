"""The robot's own trust anchor and what it obeys: releases verified against it, keyrings that rotate
it. Standard library only (it runs on robots, as the deploy's module_utils)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any

from . import assemble, contract
from .system import InstallError, atomic_write, run

if TYPE_CHECKING:
    from .install import Request, Result


def verify(signers: bytes, identity: str, namespace: str, body: bytes, signature: bytes) -> str | None:
    """None when `signature` over `body` verifies against the allowed-signers text; else why not."""
    if not signature:
        return "no signature came with it"
    with tempfile.TemporaryDirectory(prefix="horus-verify-") as tmp:
        sig, allowed = os.path.join(tmp, "sig"), os.path.join(tmp, "allowed_signers")
        for path, data in ((sig, signature), (allowed, signers)):
            with open(path, "wb") as f:
                f.write(data)
        argv = ["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", identity, "-n", namespace, "-s", sig]
        proc = run(argv, body, check=False)
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).decode(errors="replace").strip()


def _keyring_state() -> dict[str, Any]:
    try:
        with open(contract.KEYRING_STATE, encoding="utf-8") as f:
            state = json.load(f)
        return {"serial": int(state.get("serial", 0)), "revoked": list(state.get("revoked", []))}
    except (OSError, ValueError):
        return {"serial": 0, "revoked": []}


def _signers_lines(text: str, revoked: list[str]) -> str:
    """An allowed-signers text without any line naming a revoked key."""
    keep = [line for line in text.splitlines() if line.strip() and not any(key in line for key in revoked)]
    return "\n".join(keep) + "\n"


def establish_trust(req: Request, result: Result) -> bytes | None:
    """The allowed signers the robot trusts, None when it has no anchor: its own anchor, or the bootstrap
    signers when it has none and the inventory asks, then each keyring newer than the robot's (signed by
    a key trusted at that step, serials rising) in turn. What changed is written at the end."""
    try:
        with open(contract.ALLOWED_SIGNERS, "rb") as f:
            signers: bytes | None = f.read()
    except FileNotFoundError:
        signers = None
    changed = False
    if signers is None and req.bootstrap_trust:
        if not req.bootstrap_signers.strip():
            raise InstallError(
                "horus_robot_bootstrap_trust is set but horus_robot_allowed_signers names no file: give the "
                "allowed-signers file the robot is to trust from now on"
            )
        signers, changed = req.bootstrap_signers, True
        result.messages.append(f"trust anchor installed at {contract.ALLOWED_SIGNERS} (bootstrap)")
    state = _keyring_state()
    for body, signature in req.keyrings:
        try:
            ring = json.loads(body)
            serial, text, revoked = int(ring["serial"]), str(ring["allowed_signers"]), list(ring.get("revoked", []))
        except (ValueError, KeyError, TypeError) as exc:
            raise InstallError(
                f"a keyring of horus_robot_keyrings is not a keyring document ({exc}): refused"
            ) from None
        if serial <= state["serial"]:
            continue  # taken before: replaying an old keyring changes nothing
        if signers is None:
            raise InstallError("keyrings need a trust anchor to start from: provision the robot first")
        why = verify(signers, req.signer_identity, contract.KEYRING_NAMESPACE, body, signature)
        if why:
            raise InstallError(f"keyring serial {serial} is not signed by a key this robot trusts ({why}): refused")
        state = {"serial": serial, "revoked": sorted(set(state["revoked"]) | set(revoked))}
        signers, changed = _signers_lines(text, state["revoked"]).encode(), True
        result.messages.append(f"trust rotated to keyring serial {serial}")
    if changed:
        result.changed = True
        if not req.check_mode and signers is not None:
            os.makedirs(contract.TRUST_DIR, mode=0o755, exist_ok=True)
            atomic_write(contract.ALLOWED_SIGNERS, signers, 0o644)
            atomic_write(contract.KEYRING_STATE, (json.dumps(state, sort_keys=True) + "\n").encode(), 0o644)
    return signers


def verified_manifest(req: Request, signers: bytes | None, result: Result) -> dict[str, Any]:
    """The release these bytes hold, once verified against the robot's anchor (or allowed unsigned)."""
    if signers is not None:
        why = verify(signers, req.signer_identity, contract.RELEASE_NAMESPACE, req.manifest, req.signature)
        if why:
            raise InstallError(
                f"the release is not signed by a key this robot trusts ({contract.ALLOWED_SIGNERS}): {why}. Refused, "
                "nothing changed; sign releases with a trusted key (`nox -s bundle -- --help`) or rotate the robot's "
                "trust with a keyring signed by a key it trusts (horus_robot_keyrings)"
            )
    elif not req.allow_unsigned:
        raise InstallError(
            f"this robot has no trust anchor ({contract.ALLOWED_SIGNERS}) and robots obey only signed releases: "
            "provision it (`nox -s image`, or a first deploy with -e horus_robot_bootstrap_trust=true and "
            "horus_robot_allowed_signers set); for simulated or lab robots only, set horus_robot_allow_unsigned: true"
        )
    else:
        result.messages.append("WARNING: release taken without any signature check (horus_robot_allow_unsigned)")
    sent = "(the bytes the controller sent)"
    manifest = checked_manifest(assemble.parse_manifest(req.manifest, sent), sent)
    if req.release and manifest["id"] != req.release:
        raise InstallError(f"the manifest sent is release {manifest['id']}, not {req.release}: refused")
    if manifest.get("image") != req.image:
        raise InstallError(
            f"release {manifest['id']} is of image {manifest.get('image')!r}, this robot runs {req.image!r}"
        )
    return manifest


def checked_manifest(manifest: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(manifest.get("deploy"), dict):
        raise InstallError(f"{where} predates signed deploy data: rebuild the release with `nox -s build`")
    contract.check_deploy(manifest["deploy"], manifest.get("prefix"), f"release {manifest.get('id')}")
    for layer in manifest.get("layers", []):
        contract.check(contract.LAYER_HASH, layer.get("hash"), where, "layers[].hash", "a hex layer hash")
        contract.check(contract.SHA256, layer.get("archive_sha256"), where, "layers[].archive_sha256", "a sha256")
        if "delta" in layer:  # a name the robot makes a path of, a sha256 it checks the delta by
            delta = layer["delta"]
            if not isinstance(delta, dict) or not isinstance(delta.get("size"), int) or delta["size"] < 0:
                raise InstallError(f"{where}: layers[].delta is not {{from, sha256, size}}: refused")
            contract.check(contract.LAYER_HASH, delta.get("from"), where, "layers[].delta.from", "a hex layer hash")
            contract.check(contract.SHA256, delta.get("sha256"), where, "layers[].delta.sha256", "a sha256")
    contract.check(contract.RELEASE_ID, manifest.get("id"), where, "id", "16 hex digits")
    return manifest
