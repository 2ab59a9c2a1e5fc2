"""Release signatures and serials: what makes a robot obey a release, and refuse an older one.

A release manifest is signed with an SSH key (`ssh-keygen -Y sign`, namespace horus-release):
Ed25519 signatures are deterministic, so a rebuild of the same release writes the same `.sig`.
The key comes from `--sign KEY`, else $HORUS_RELEASE_KEY, else the default key file
($XDG_CONFIG_HOME/horus/release_key, ~/.config/horus/release_key), when it exists. Robots refuse
unsigned releases unless their inventory says `horus_robot_allow_unsigned: true`.

The serial orders releases for the robot's downgrade check. It must be reproducible (no clock):
it is SOURCE_DATE_EPOCH when set (the reproducible-builds convention), else the commit time of
the project's checkout, which grows with every commit a release is built from.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import REPO
from ..determinism import read_nofollow, write_atomic
from ..errors import PipelineError
from ..proc import run
from ..robot import contract

SIGN_NAMESPACE = contract.RELEASE_NAMESPACE  # the namespace robots verify releases in
SIGNER_IDENTITY = "horus-release"  # the role's default horus_robot_signer_identity
KEY_ENV = "HORUS_RELEASE_KEY"
# The allowed signers the project provisions its robots with (README, ansible/inventory/example.yml).
PROJECT_SIGNERS = REPO / "ansible" / "inventory" / "allowed_signers"


@dataclass(frozen=True)
class Signers:
    """An allowed-signers text (ssh-keygen format) read once, and where it came from (for messages)."""

    text: bytes
    origin: str


def default_key() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "horus" / "release_key"


def configured_key(explicit: Path | None = None) -> Path | None:
    """The signing key to use: --sign, then $HORUS_RELEASE_KEY, then the default file if present."""
    if explicit is not None:
        key, origin = explicit, "--sign"
    elif os.environ.get(KEY_ENV):
        key, origin = Path(os.environ[KEY_ENV]), f"${KEY_ENV}"
    else:
        key = default_key()
        return key if key.is_file() else None
    if not key.is_file():
        raise PipelineError(f"signing key {key} (from {origin}) does not exist. {how_to_make_a_key(key)}")
    return key


def how_to_make_a_key(key: Path | None = None) -> str:
    key = key or default_key()
    return (
        f"Make one with `ssh-keygen -t ed25519 -N '' -C {SIGNER_IDENTITY} -f {key}` and give robots its public key: "
        f'`echo "{SIGNER_IDENTITY} namespaces=\\"{SIGN_NAMESPACE}\\" $(cat {key}.pub)" > '
        f"{PROJECT_SIGNERS.relative_to(REPO)}`, then set horus_robot_allowed_signers to that file in the inventory"
    )


def read_signers(path: Path, what: str) -> Signers:
    """The allowed-signers file `path` (named `what` in errors, e.g. --allowed-signers), read once."""
    try:
        text = read_nofollow(path)
    except OSError as exc:
        raise PipelineError(
            f"{what} {path}: {exc.strerror}: give an ssh-keygen allowed-signers file. {how_to_make_a_key()}"
        ) from None
    if not text.strip():
        raise PipelineError(f"{what} {path} is empty: it names no key to trust. {how_to_make_a_key()}")
    return Signers(text, f"{what} {path}")


def configured_signers() -> Signers | None:
    """The project's allowed signers when none are given: PROJECT_SIGNERS when it exists, else the public
    half of the configured release key (what this machine signs releases with); None when neither is."""
    if PROJECT_SIGNERS.is_file():
        return read_signers(PROJECT_SIGNERS, "the project's allowed signers")
    key = configured_key()
    public = key.with_name(key.name + ".pub") if key else None
    if public is None or not public.is_file():
        return None
    line = f'{SIGNER_IDENTITY} namespaces="{SIGN_NAMESPACE}" {public.read_text(encoding="utf-8").strip()}\n'
    return Signers(line.encode(), f"the public half of the release key {key}")


def sign(path: Path, key: Path, data: bytes | None = None) -> Path:
    """`ssh-keygen -Y sign` `data`, the bytes the caller wrote to `path` and vouches for, and write the
    signature as <path>.sig. Without `data`, `path`'s bytes are read once (a link there is refused).

    The signature covers those bytes, never a later read of `path`: ssh-keygen signs a copy in a
    directory made for it (mode 0700), and the signature is published with write_atomic, renamed over
    <path>.sig (a link planted there is replaced, not written through)."""
    if data is None:
        data = read_nofollow(path)
    with tempfile.TemporaryDirectory(prefix="horus-sign-") as private:
        made = Path(private) / path.name
        write_atomic(made, data)
        run(
            ["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", SIGN_NAMESPACE, made],
            what=f"signing {path.name} with {key}",
        )
        signature = read_nofollow(made.with_name(made.name + ".sig"))
    sig = path.with_name(path.name + ".sig")
    write_atomic(sig, signature)
    return sig


def release_serial(project: Path) -> int:
    """The serial of a release built now from `project` (see the module's docstring)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        if not epoch.isdigit():
            raise PipelineError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds: unset it or fix it")
        return int(epoch)
    found = subprocess.run(
        ["git", "-C", str(project), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=False
    )
    stamp = found.stdout.strip()
    return int(stamp) if found.returncode == 0 and stamp.isdigit() else 0
