"""`nox -s image -- IMAGE [--release ID]`, `nox -s image -- --verify FILE [--allowed-signers F]`."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from .. import REPO
from ..bundle.build import BUNDLES
from ..bundle.signing import PROJECT_SIGNERS
from ..console import run_cli
from ..errors import PipelineError
from ..images import image_names, load_image
from ..robot import contract
from .build import IMAGES, build_image
from .publish import METADATA, verify

_SIGNERS = PROJECT_SIGNERS.relative_to(REPO)


def _size(value: str) -> int:
    found = re.fullmatch(r"(\d+)([MG])", value.strip().upper())
    if not found:
        raise argparse.ArgumentTypeError(f"{value!r}: give MiB or GiB, e.g. 2048M or 4G")
    return int(found[1]) << (20 if found[2] == "M" else 30)


def _public_key(path: Path) -> str:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not text.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise PipelineError(f"--deploy-key {path}: not an SSH public key file (e.g. ~/.ssh/id_ed25519.pub)")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s image",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Write a disk image to flash a new robot with (as root): the image's Debian base, the\n"
            "service user, a release installed and confirmed, its units and journald settings, as a\n"
            "deploy would leave them. It boots straight to healthy nodes with no Ansible run; a later\n"
            "`ansible-playbook ansible/deploy.yml` moves it forward like any robot. Machine id and SSH\n"
            "host keys are made at first boot. Reproducible: the same inputs give the same bytes.\n\n"
            "The release is verified first, as a robot verifies a deploy: its signature (against\n"
            f"--allowed-signers, else {_SIGNERS}, else the public half of the\n"
            "configured release key), its id, serial, deploy data and layer archives. A release that\n"
            "fails is refused before anything is written; --allow-unsigned skips only the signature check."
        ),
        epilog=(
            "examples:\n"
            f"  nox -s bundle -- fleet-amd64 && nox -s image -- fleet-amd64 --allowed-signers {_SIGNERS}\n"
            "  nox -s image -- demo-arm64 --release 1e769ed11a63e800 --size 4G --deploy-key ~/.ssh/id_ed25519.pub\n"
            f"  nox -s image -- --verify dist/images/fleet-amd64/RELEASE.img.zst --allowed-signers {_SIGNERS}\n"
            "  zstd -d < RELEASE.img.zst | dd of=/dev/sdX bs=4M conv=fsync    # flash a robot's disk\n\n"
            "Outputs in dist/images/IMAGE/: RELEASE.img (GPT + ext4 root), .img.zst, .tar (the root\n"
            f"filesystem), .sbom.json, a .sha256 beside each, and RELEASE{METADATA}: the image, release,\n"
            "serial, allow_unsigned and the sha256 of each output. The metadata and each .sha256 are\n"
            "signed (.sig) when a release key is configured ($HORUS_RELEASE_KEY or\n"
            "~/.config/horus/release_key). --verify FILE with --allowed-signers wants the metadata's\n"
            "signature, and checks that FILE's name, the release it names and FILE's sha256 agree."
        ),
    )
    parser.add_argument("image", nargs="?", metavar="IMAGE", help=f"robot image: {', '.join(image_names())}")
    parser.add_argument("--release", metavar="ID", help="release of IMAGE's bundle (default: its newest, `latest`)")
    parser.add_argument(
        "--size",
        type=_size,
        metavar="SIZE",
        help="disk size, e.g. 2G (default: the release plus room to deploy the next one beside it)",
    )
    parser.add_argument(
        "--out", type=Path, default=IMAGES, metavar="DIR", help="output directory (default: dist/images)"
    )
    parser.add_argument(
        "--deploy-key",
        type=Path,
        metavar="PUBKEY",
        help="an SSH public key for the `deploy` account (sudo to root) that Ansible logs in as; "
        "without it the image has no login but root's console",
    )
    parser.add_argument(
        "--bundles", type=Path, default=BUNDLES, metavar="DIR", help="bundles directory (default: dist/bundles)"
    )
    parser.add_argument(
        "--verify",
        type=Path,
        metavar="FILE",
        help=f"check an image output (.img, .img.zst, .tar, .sbom.json) against the {METADATA} beside it",
    )
    parser.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="with IMAGE: what the release must be signed by, and the robot's trust anchor (the releases it "
        f"obeys, {contract.ALLOWED_SIGNERS}); with --verify: the allowed-signers file the image's metadata "
        "must be signed by (a missing signature then fails)",
    )
    parser.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="with IMAGE and no --allowed-signers: take the release without a signature check (lab robots "
        f"only; {METADATA} says so)",
    )
    args = parser.parse_args(argv)

    def body() -> None:
        if args.verify:
            for line in verify(args.verify, args.allowed_signers):
                print(f"{args.verify.name}: {line}")
            return
        if not args.image:
            raise PipelineError("name an image (nox -s image -- IMAGE) or give --verify FILE; -- --help for more")
        key = _public_key(args.deploy_key) if args.deploy_key else None
        build_image(
            load_image(args.image),
            args.release,
            args.out.resolve(),
            args.size,
            bundles=args.bundles.resolve(),
            deploy_key=key,
            allowed_signers=args.allowed_signers,
            allow_unsigned=args.allow_unsigned,
        )

    return run_cli(body)
