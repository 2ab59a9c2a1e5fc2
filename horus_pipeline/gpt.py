"""GUID partition tables of robot disk images: written by `nox -s image` (image/disk.py), read by the
simulated robots that boot from such a disk (sim/fleet.py). The UEFI layout: a protective MBR, the
header and 128 entries at the start, their copy at the end.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

from .errors import PipelineError

SECTOR = 512
_ENTRIES, _ENTRY_SIZE = 128, 128
_TABLE_SECTORS = _ENTRIES * _ENTRY_SIZE // SECTOR


def root_partition(disk: Path) -> tuple[int, int]:
    """(offset, size) in bytes of the root partition of a disk image this module wrote."""
    with disk.open("rb") as f:
        f.seek(SECTOR)
        header = f.read(92)
        if header[:8] != b"EFI PART":
            raise PipelineError(f"{disk} has no GPT: not a robot disk image (`nox -s image` writes them)")
        entries_lba = struct.unpack_from("<Q", header, 72)[0]
        f.seek(entries_lba * SECTOR)
        entry = f.read(_ENTRY_SIZE)
    first, last = struct.unpack_from("<QQ", entry, 32)
    return first * SECTOR, (last - first + 1) * SECTOR


def disk_guid(disk: Path) -> uuid.UUID | None:
    """The disk GUID in the GPT header of `disk`, None when it has no GPT."""
    with disk.open("rb") as f:
        f.seek(SECTOR)
        header = f.read(92)
    return uuid.UUID(bytes_le=header[56:72]) if header[:8] == b"EFI PART" and len(header) == 92 else None


def gpt_entry(type_: uuid.UUID, part: uuid.UUID, first: int, last: int, name: str) -> bytes:
    return struct.pack("<16s16sQQQ72s", type_.bytes_le, part.bytes_le, first, last, 0, name.encode("utf-16-le"))


def _header(disk_guid: uuid.UUID, sectors: int, table: bytes, *, backup: bool) -> bytes:
    current, other = (sectors - 1, 1) if backup else (1, sectors - 1)
    entries_lba = sectors - 1 - _TABLE_SECTORS if backup else 2
    fields = [b"EFI PART", 0x00010000, 92, 0, 0, current, other, 2 + _TABLE_SECTORS, sectors - 2 - _TABLE_SECTORS]
    fields += [disk_guid.bytes_le, entries_lba, _ENTRIES, _ENTRY_SIZE, zlib.crc32(table)]
    layout = "<8sIIIIQQQQ16sQIII"
    crc = zlib.crc32(struct.pack(layout, *fields))
    fields[3] = crc
    return struct.pack(layout, *fields).ljust(SECTOR, b"\0")


def write_gpt(out: Path, sectors: int, disk_guid: uuid.UUID, *entries: bytes) -> None:
    table = b"".join(entries).ljust(_ENTRIES * _ENTRY_SIZE, b"\0")
    size_lba = min(sectors - 1, 0xFFFFFFFF)
    mbr = bytearray(SECTOR)
    # The protective MBR: one partition of type 0xEE over the whole disk, so old tools leave it alone.
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, size_lba)
    mbr[510:512] = b"\x55\xaa"
    with out.open("r+b") as f:
        f.write(bytes(mbr))
        f.write(_header(disk_guid, sectors, table, backup=False))
        f.write(table)
        f.seek((sectors - 1 - _TABLE_SECTORS) * SECTOR)
        f.write(table)
        f.write(_header(disk_guid, sectors, table, backup=True))
