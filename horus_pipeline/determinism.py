"""Everything that makes the pipeline's output byte-for-byte reproducible lives here.

Every archive, wheel and rootfs the pipeline writes takes its timestamps from
one epoch, its file modes from three values, its entry order from one sorted
walk, and every child build (zig cc, pip, mmdebstrap) gets one environment.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import deflate

# SOURCE_DATE_EPOCH when the environment sets none: 2026-01-01T00:00:00Z. It only has
# to be fixed; being later than the packages' own file dates keeps bytecode caches valid.
DEFAULT_EPOCH = 1767225600

DIR_MODE = 0o755
EXEC_MODE = 0o755
FILE_MODE = 0o644

# PATH of a child that inherits nothing of ours (`child_env(inherit=False)`): enough for
# mmdebstrap and nspawn on the host, and for commands inside a Debian tree.
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_EPOCH)


def normalized_mode(mode: int, is_dir: bool) -> int:
    """0755 for directories and anything executable by its owner, else 0644."""
    if is_dir or mode & 0o100:
        return EXEC_MODE
    return FILE_MODE


def child_env(extra: Mapping[str, str] | None = None, *, inherit: bool = True) -> dict[str, str]:
    """The environment for child builds: our epoch, a fixed hash seed, no locale or timezone surprises.

    With `inherit=False` nothing of this process's environment goes along (no PIP_*, no
    proxies, no PATH of a virtualenv): PATH is CLEAN_PATH. That is what a child working in a
    robot's tree gets.
    """
    env = dict(os.environ) if inherit else {"PATH": CLEAN_PATH}
    env.update(
        SOURCE_DATE_EPOCH=str(source_date_epoch()),
        PYTHONHASHSEED="0",
        LC_ALL="C.UTF-8",
        TZ="UTC",
    )
    env.update(extra or {})
    return env


def sorted_walk(root: Path) -> Iterator[Path]:
    """Every path under root (directories before their contents), in byte order of names."""
    for top, dirs, files in os.walk(root, topdown=True):
        # topdown is what lets us sort `dirs` in place and so fix the order of descent.
        dirs.sort()
        base = Path(top)
        for name in sorted([*dirs, *files]):
            yield base / name


def _tar_info(path: Path, arcname: str) -> tarfile.TarInfo:
    """A tar header for `path` that records nothing of this machine: epoch mtime, root owner, three modes."""
    st = os.lstat(path)
    info = tarfile.TarInfo(arcname)
    info.mtime = source_date_epoch()
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = normalized_mode(st.st_mode, is_dir=True)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
        info.mode = normalized_mode(st.st_mode, is_dir=False)
    else:
        raise ValueError(f"{path}: only files, directories and symlinks go into an archive")
    return info


@contextmanager
def publishing(out: Path) -> Iterator[Path]:
    """Yield a path to write `out` in full; then rename it to `out`, so `out` is either complete or as it was.

    The path is `<out's name>` inside a directory made for this one write beside `out` (mkdtemp:
    a fresh name, mode 0700), so no other user can plant a file or a link where the writer opens it,
    and the rename (same filesystem) replaces whatever is at `out`, a planted link included, without
    writing through it. On any failure inside the block the directory is removed and the error goes on.
    """
    private = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix="~", dir=out.parent))
    try:
        tmp = private / out.name
        yield tmp
        tmp.replace(out)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a whole file through `publishing`: readers see the old content or the new, never part."""
    with publishing(path) as tmp:
        raw = data.encode() if isinstance(data, str) else data
        # O_EXCL|O_NOFOLLOW: the directory is private, and even so nothing already there is opened.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        with open(fd, "wb") as f:
            f.write(raw)


def publish_link(src: Path, dest: Path) -> None:
    """Put the cache's file `src` at `dest` through `publishing`: a hard link (no copy of a big archive)
    where the filesystem allows, else a copy; nothing done when `dest` is that file already."""
    if dest.exists() and os.path.samestat(dest.stat(), src.stat()):
        return
    with publishing(dest) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def read_nofollow(path: Path) -> bytes:
    """The bytes of `path`, read once; a symbolic link there is refused (OSError, ELOOP), not followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        return f.read()


def copy_nofollow(src: Path, dst: Path) -> str:
    """Copy `src` (a link there is refused, as in read_nofollow) to the new file `dst`; the hex sha256 of
    the bytes copied, so a check of that digest is a check of the copy, whatever `src` holds later."""
    digest = hashlib.sha256()
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(fd, "rb") as f, open(out, "wb") as g:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            g.write(chunk)
    return digest.hexdigest()


# libdeflate's level for layer archives. Measured on torch 2.13.0+cpu's layer (a 770 MB tar), one
# core: zlib -6 (Python's gzip) 205.9 MB in 27.6 s; libdeflate -6 203.9 MB in 7.8 s, -5 205.9 MB in
# 6.6 s, -9 201.9 MB in 21.9 s. -6: smaller than before at a third of the time.
GZIP_LEVEL = 6


def write_tar_gz(root: Path, out: Path) -> None:
    """Archive the tree under `root` as `out` (a .tar.gz), byte-identical for the same tree anywhere.

    Entries are relative to root in sorted_walk order (each directory before its contents),
    with the epoch as mtime, uid/gid 0, empty owner names and normalised modes; hard links are
    stored as separate files. The tar is compressed in one piece by libdeflate (`deflate`, pinned
    in lockfiles/tools.txt): one gzip member with mtime 0, no file name and OS 255, which robots
    read with Python's gzip module as before. The archive is written through `publishing`, so
    `out` is either complete or as it was.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted_walk(root):
            info = _tar_info(path, path.relative_to(root).as_posix())
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    with buffer.getbuffer() as tar_bytes:
        compressed = deflate.gzip_compress(tar_bytes, GZIP_LEVEL)
    with publishing(out) as tmp, open(tmp, "wb") as f:
        f.write(compressed)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
