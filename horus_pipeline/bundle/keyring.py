"""Trust keyrings: how a fleet's release keys change without re-provisioning a robot.

A robot trusts the allowed-signers file it was provisioned with (`nox -s image -- --allowed-signers`,
or a first deploy with `-e horus_robot_bootstrap_trust=true`). A keyring replaces it: a JSON document
with a serial, the new allowed-signers text and the public keys it revokes, signed (namespace
`horus-keyring`) by a key the robots trust now. Robots take keyrings newer than their own in serial
order, each checked against the keys trusted at that step, and never trust a revoked key again, so a
robot offline through several rotations catches up in one deploy (`horus_robot_keyrings`, oldest first):

    python -m horus_pipeline.bundle.keyring OUT --serial 2 --signers NEW_ALLOWED_SIGNERS \\
        --revoke OLD_KEY.pub --sign CURRENT_KEY
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..console import run_cli
from ..errors import PipelineError
from ..proc import run
from ..robot import contract


def keyring(serial: int, signers: str, revoked: Sequence[str]) -> bytes:
    """The keyring document's bytes: sorted keys, so the same inputs sign to the same signature."""
    if serial < 1:
        raise PipelineError(f"--serial {serial}: a keyring's serial is 1 or more, above the robots' current one")
    body = {"format": 1, "serial": serial, "allowed_signers": signers, "revoked": sorted(k.strip() for k in revoked)}
    return (json.dumps(body, sort_keys=True, indent=1) + "\n").encode()


def write_keyring(out: Path, serial: int, signers: Path, revoked: Sequence[Path], key: Path) -> Path:
    """Write keyring `out` and its signature `out.sig` (made with `key`, a key the robots trust now)."""
    keys = []
    for path in revoked:
        fields = path.read_text(encoding="utf-8").split()
        if len(fields) < 2:
            raise PipelineError(f"--revoke {path}: not an SSH public key file")
        keys.append(" ".join(fields[:2]))  # type and key: what an allowed-signers line holds
    out.write_bytes(keyring(serial, signers.read_text(encoding="utf-8"), keys))
    sig = out.with_name(out.name + ".sig")
    sig.unlink(missing_ok=True)
    run(
        ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", contract.KEYRING_NAMESPACE, str(out)],
        what=f"signing keyring {out}",
    )
    return sig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m horus_pipeline.bundle.keyring",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("out", type=Path, help="the keyring file to write (its signature goes to OUT.sig)")
    parser.add_argument("--serial", type=int, required=True, help="above every keyring the robots took before")
    parser.add_argument("--signers", type=Path, required=True, help="the allowed-signers file robots trust next")
    parser.add_argument("--revoke", type=Path, action="append", default=[], metavar="PUBKEY", help="never trust again")
    parser.add_argument("--sign", type=Path, required=True, metavar="KEY", help="a private key the robots trust now")
    args = parser.parse_args(argv)
    return run_cli(lambda: print(write_keyring(args.out, args.serial, args.signers, args.revoke, args.sign)))


if __name__ == "__main__":
    sys.exit(main())
