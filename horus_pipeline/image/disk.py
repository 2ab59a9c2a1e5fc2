"""A raw disk image from a root filesystem tree: a GPT with one ext4 root partition, no loop device.

The GPT is written by horus_pipeline/gpt.py (the UEFI layout, which the simulated robots read too);
the filesystem by `mkfs.ext4 -d TREE` straight into the partition's byte range
(`-E offset=`). Every identifier is derived from the image and the release (disk, partition and
filesystem UUIDs, the directory hash seed), every time is SOURCE_DATE_EPOCH (E2FSPROGS_FAKE_TIME,
then debugfs for the times mkfs copies from the tree), and mkfs.ext4 1.47.0 numbers inodes in name
order whatever order the host's filesystem lists a directory in (checked): the same tree gives the
same bytes on any machine. The partition type is the Discoverable Partitions Specification's root
type of the robot's CPU: `systemd-nspawn -i` and systemd-gpt-auto-generator find the root by it.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from ..determinism import child_env, source_date_epoch
from ..errors import PipelineError
from ..gpt import SECTOR, gpt_entry, write_gpt
from ..proc import run
from ..targets import Arch

MIB = 1 << 20
ALIGN = MIB  # the partition starts and ends on MiB boundaries
# Root partition types of the Discoverable Partitions Specification, by `uname -m`.
ROOT_TYPES = {
    "x86_64": uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
    "aarch64": uuid.UUID("b921b045-1df0-41c3-af44-4c6f280d3fae"),
}
# Identifiers of an image are UUIDv5 of "<image>/<release>/<what>" in this namespace.
_NAMESPACE = uuid.UUID("0c5f5a52-8e0b-4a57-9f36-1d1a3cf3b1a4")
# Blocks of 4 KiB, one inode per 16 KiB: ext4's defaults for a disk of this size.
BLOCK = 4096
_BYTES_PER_INODE = 16384


def image_uuid(image: str, release: str, what: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{image}/{release}/{what}")


def tree_bytes(root: Path) -> int:
    """Bytes an ext4 filesystem needs for the tree: each inode's blocks (hard links once), a block per
    directory and symlink, the inode table, and a journal and metadata allowance."""
    seen: set[int] = set()
    blocks = inodes = 0
    for top, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            st = os.lstat(os.path.join(top, name))
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            inodes += 1
            blocks += max(1, -(-st.st_size // BLOCK))
    return blocks * BLOCK + inodes * 256 + 64 * MIB


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def default_size(needed: int) -> int:
    """Room for the release and for a deploy of the next one beside it (its layers and a release)."""
    return _round_up(needed + needed // 2 + 256 * MIB + 2 * ALIGN, 64 * MIB)


def check_size(size: int, needed: int, image: str, release: str) -> None:
    least = needed + 2 * ALIGN  # the partition table before the partition, its copy after
    if size < least:
        raise PipelineError(
            f"a {size // MIB} MiB disk is too small for release {release} of {image}: it needs "
            f"{_round_up(least, MIB) // MIB} MiB; give --size {_round_up(least, 64 * MIB) // MIB}M or more "
            "(or leave --size out for room to deploy the next release too)"
        )


def write_disk(tree: Path, out: Path, size: int, arch: Arch, image: str, release: str) -> None:
    """Write the raw disk image `out` (`size` bytes, sparse) with `tree` as its root partition."""
    first, last = ALIGN // SECTOR, (size - ALIGN) // SECTOR - 1  # inclusive LBAs of the partition
    fs_uuid, seed = image_uuid(image, release, "filesystem"), image_uuid(image, release, "hash-seed")
    with out.open("wb") as f:
        f.truncate(size)
    epoch = str(source_date_epoch())
    run(
        [
            "mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-i", str(_BYTES_PER_INODE), "-L", "root",
            "-U", str(fs_uuid), "-d", str(tree),
            "-E", f"offset={first * SECTOR},hash_seed={seed},root_owner=0:0,nodiscard",
            str(out), str((last - first + 1) * SECTOR // 1024) + "k",
        ],
        env=child_env({"E2FSPROGS_FAKE_TIME": epoch, "SOURCE_DATE_EPOCH": epoch}, inherit=False),
        what=f"mkfs.ext4 of the {image} root filesystem",
    )  # fmt: skip
    _settle_times(out, first * SECTOR, int(epoch))
    part = gpt_entry(ROOT_TYPES[arch.name], image_uuid(image, release, "root-partition"), first, last, "root")
    write_gpt(out, size // SECTOR, image_uuid(image, release, "disk"), part)


def _settle_times(out: Path, offset: int, epoch: int) -> None:
    """Every inode's ctime and atime to the epoch: `mkfs.ext4 -d` (1.47.0) copies them from the tree,
    where no program can set a ctime. Its inodes are numbered in order from the first."""
    fs = f"{out}?offset={offset}"
    env = child_env({"E2FSPROGS_FAKE_TIME": str(epoch)}, inherit=False)  # else debugfs stamps its write time
    stats = run(["debugfs", "-R", "stats", fs], env=env, what="reading the new filesystem").stdout.decode()
    count, free = (int(re.search(rf"^{key}:\s+(\d+)", stats, re.M)[1]) for key in ("Inode count", "Free inodes"))  # type: ignore[index]
    script = "".join(f"sif <{i}> ctime @{epoch}\nsif <{i}> atime @{epoch}\n" for i in [2, *range(11, count - free + 1)])
    run(["debugfs", "-w", "-f", "-", fs], env=env, input=script.encode(), what="setting the filesystem's times")
