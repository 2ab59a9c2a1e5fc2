"""Layer deltas: a new layer written as what it keeps of an old layer plus patches (issue 27).

A pin bump of a big package changes a few of its files and leaves most alone; a robot that has the
old version's layer needs only the difference. For each file of the new layer, the delta says where
its bytes come from (the format, and how a robot applies it: horus_pipeline/robot/delta.py):

- a file of the old layer with the same sha256 (any path: files that moved come along): copied;
- else the file's counterpart in the old layer, the same path or, for names carrying a version or a
  build hash (`torch-2.9.0.dist-info/RECORD`, `torch.libs/libgomp-a34b3233.so`), the one old path
  that reads the same with digits and hashes left out: a patch against it;
- else (new files): the same patch with no reference, which is compression.

Patched files go in groups: a file of ALONE_BYTES or more (or with such a counterpart) alone, smaller
ones together in path order, up to GROUP_BYTES of output and of references (a robot starts one
process per group rather than per file, and a patch finds matches across neighbouring files). A
group is one `zstd -19 --patch-from` frame, 20-40 % smaller than xdelta3 on numpy's and scipy's
files, unless it is bigger than a robot may hold in memory for zstd (robot.delta.ZSTD_MAX_BYTES):
then it is one file, an `xdelta3 -9` patch, which is also smaller than zstd's on torch's 240 MiB
libtorch_cpu.so and applies in bounded memory. The figures behind these choices:
docs/layer-deltas.md.

Deltas are deterministic (no time, owner or directory of this machine in them; xdelta3 -A writes no
file names) for one zstd and xdelta3 version, which are part of the cache entry: built once per
(old, new) pair under the cache's `deltas/`, so the sha256 a release names is the one sent.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..console import step
from ..determinism import normalized_mode, publish_link, sha256_file, sorted_walk
from ..errors import PipelineError
from ..robot import assemble
from ..robot.delta import FORMAT, PLAN_NAME, ZSTD_MAX_BYTES, delta_archive, source_window
from .layers import Layer, cached_layer
from .release import ManifestDelta

# xdelta3's best compression, for big files: torch's libtorch_cpu.so takes about 70 s (once per
# pair, cached), against 20 s at -3 for a 10 % bigger patch (docs/layer-deltas.md).
XDELTA3_LEVEL = 9
# zstd's best level short of --ultra (whose windows a robot would need more memory for), for groups.
ZSTD_LEVEL = 19
# A file this big (or its counterpart) is patched alone. Smaller ones are grouped up to GROUP_BYTES
# of output and of reference (the robot concatenates a group's references into one scratch file).
ALONE_BYTES = 16 << 20
GROUP_BYTES = 64 << 20
# Bump when what a delta holds changes: every cached delta is made again.
LAYOUT = 1
# Digits and hex build hashes, left out when pairing a renamed file with its old counterpart.
_VERSIONED = re.compile(r"[0-9a-f]{8,}|[0-9]+")


class DeltaError(PipelineError):
    """A delta cannot be made; the message names the layer or file."""


@dataclass(frozen=True)
class Delta:
    """A delta in the cache: the layer it turns into another, its file, sha256 and size, what it holds."""

    old: str
    new: str
    sha256: str
    size: int
    copied: int  # files taken from the old layer as they are
    patched: int  # files rebuilt from a patch against an old file
    added: int  # files with nothing to patch against
    settings: str  # what made it (layout, xdelta3 version and options): another value, another delta

    @property
    def path(self) -> Path:
        """Its file in the cache (write_delta's is where it was asked to write it)."""
        return delta_store() / f"{self.old}-{self.new}.delta"


@dataclass(frozen=True)
class _Group:
    files: list[tuple[str, int, int]]  # (path, mode, size) in the new layer
    refs: list[str]  # old files, concatenated, the patch is made against
    xdelta3: bool  # one file too big for a zstd frame: an xdelta3 patch

    def member(self, number: int) -> str:
        return f"{number}.vcdiff" if self.xdelta3 else f"{number}.zst"


def delta_store() -> Path:
    return cache_dir("deltas")


def tool_version(tool: str) -> str:
    """The first words of `tool -V` ("Xdelta version 3.0.11", "*** Zstandard CLI (64-bit) v1.5.4")."""
    try:
        proc = subprocess.run([tool, "-V"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DeltaError(f"{tool} is not installed: `apt-get install {tool}` (Debian package {tool})") from None
    return (proc.stdout + proc.stderr).split(",")[0].strip()  # what follows is a copyright or an author


def settings() -> str:
    tools = f"{tool_version('zstd')} -{ZSTD_LEVEL}, {tool_version('xdelta3')} -{XDELTA3_LEVEL}"
    return f"layout {LAYOUT}, {tools}, groups {ALONE_BYTES}/{GROUP_BYTES}/{ZSTD_MAX_BYTES}"


def _index(layer_dir: Path) -> dict[str, str]:
    try:
        files: dict[str, str] = json.loads((layer_dir / assemble.INDEX_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise DeltaError(f"{layer_dir}: cannot read its {assemble.INDEX_NAME} ({exc}): not an unpacked layer") from None
    return {**files, assemble.INDEX_NAME: sha256_file(layer_dir / assemble.INDEX_NAME)}


def _unversioned(path: str) -> str:
    return _VERSIONED.sub("#", path)


def _counterparts(old: dict[str, str]) -> dict[str, str]:
    """Old paths by their unversioned form, for the forms only one old path has."""
    found: dict[str, list[str]] = {}
    for path in old:
        found.setdefault(_unversioned(path), []).append(path)
    return {key: paths[0] for key, paths in found.items() if len(paths) == 1}


def _groups(changed: list[tuple[str, int, int, str | None]], old_dir: Path) -> list[_Group]:
    """Changed files (path, mode, size, counterpart) in path order, grouped as the module says."""
    groups: list[_Group] = []
    small: _Group | None = None
    out_bytes = ref_bytes = 0
    for path, mode, size, ref in changed:
        ref_size = (old_dir / ref).stat().st_size if ref else 0
        if max(size, ref_size) >= ALONE_BYTES:
            xdelta3 = max(size, ref_size) > ZSTD_MAX_BYTES
            groups.append(_Group([(path, mode, size)], [ref] if ref else [], xdelta3=xdelta3))
            continue
        if small is None or out_bytes + size > GROUP_BYTES or ref_bytes + ref_size > GROUP_BYTES:
            small = _Group([], [], xdelta3=False)
            groups.append(small)
            out_bytes = ref_bytes = 0
        small.files.append((path, mode, size))
        if ref and ref not in small.refs:
            small.refs.append(ref)
            ref_bytes += ref_size
        out_bytes += size
    return groups


def _concatenated(base: Path, paths: list[str], out: Path) -> Path:
    """The one file, or the files concatenated into `out`."""
    if len(paths) == 1:
        return base / paths[0]
    with open(out, "wb") as f:
        for path in paths:
            with open(base / path, "rb") as g:
                shutil.copyfileobj(g, f, 1 << 20)
    return out


def _patch(group: _Group, number: int, old_dir: Path, new_dir: Path, work: Path) -> Path:
    """The group's patch against its references (none: compression alone): xdelta3's or zstd's."""
    target = _concatenated(new_dir, [path for path, _, _ in group.files], work / f"{number}.new")
    ref = _concatenated(old_dir, group.refs, work / f"{number}.ref") if group.refs else None
    out = work / group.member(number)
    if group.xdelta3:
        argv = ["xdelta3", "-e", "-f", "-q", "-A", f"-{XDELTA3_LEVEL}"]
        argv += ["-B", str(source_window(ref.stat().st_size)), "-s", str(ref)] if ref else []
        argv += [str(target), str(out)]
    else:
        argv = ["zstd", "-q", "-f", f"-{ZSTD_LEVEL}", *([f"--patch-from={ref}"] if ref else []), str(target)]
        argv += ["-o", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DeltaError(f"{argv[0]} could not patch {group.files[0][0]} and others: {proc.stderr.strip()}")
    for scratch in (work / f"{number}.new", work / f"{number}.ref"):
        scratch.unlink(missing_ok=True)
    return out


def _tar_entry(tar: tarfile.TarFile, name: str, size: int, data: io.BufferedIOBase | io.BytesIO) -> None:
    """An entry that records nothing of this machine: no time, owner or mode of its own."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    tar.addfile(info, data)


def plan_of(old_dir: Path, new_dir: Path, old_hash: str, new_hash: str) -> tuple[dict[str, object], list[_Group], int]:
    """The delta's plan (without its groups), the groups to patch, and how many new files have no counterpart."""
    old, new = _index(old_dir), _index(new_dir)
    by_hash: dict[str, str] = {}
    for path, digest in sorted(old.items()):
        by_hash.setdefault(digest, path)
    renamed = _counterparts(old)
    copies: list[list[object]] = []
    changed: list[tuple[str, int, int, str | None]] = []
    for path, digest in sorted(new.items()):
        st = (new_dir / path).stat()
        mode = normalized_mode(st.st_mode, is_dir=False)
        if digest in by_hash:
            copies.append([path, mode, path if old.get(path) == digest else by_hash[digest]])
            continue
        ref = path if path in old else renamed.get(_unversioned(path))
        changed.append((path, mode, st.st_size, ref))
    dirs = [p.relative_to(new_dir).as_posix() for p in sorted_walk(new_dir) if p.is_dir()]
    plan: dict[str, object] = {
        "format": FORMAT,
        "old": old_hash,
        "new": new_hash,
        "mtime": int((new_dir / assemble.INDEX_NAME).stat().st_mtime),
        "dirs": dirs,
        "copies": copies,
    }
    return plan, _groups(changed, old_dir), sum(1 for *_, ref in changed if ref is None)


def write_delta(old_dir: Path, new_dir: Path, old_hash: str, new_hash: str, out: Path) -> Delta:
    """Write the delta from the unpacked layer `old_dir` to the unpacked layer `new_dir` as `out`."""
    plan, groups, added = plan_of(old_dir, new_dir, old_hash, new_hash)
    plan["groups"] = [
        {"member": g.member(n), "refs": g.refs, "files": [list(f) for f in g.files]} for n, g in enumerate(groups)
    ]
    raw = json.dumps(plan, sort_keys=True, separators=(",", ":")).encode()
    plan_bytes = gzip.compress(raw, compresslevel=9, mtime=0)
    with tempfile.TemporaryDirectory(prefix=".delta-", dir=out.parent) as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            patches = list(pool.map(lambda n: _patch(groups[n], n, old_dir, new_dir, work), range(len(groups))))
        partial = work / "delta"
        with (
            open(partial, "wb") as raw_out,
            tarfile.open(fileobj=raw_out, mode="w", format=tarfile.USTAR_FORMAT) as tar,
        ):
            _tar_entry(tar, PLAN_NAME, len(plan_bytes), io.BytesIO(plan_bytes))
            for patch in patches:
                with open(patch, "rb") as f:
                    _tar_entry(tar, patch.name, patch.stat().st_size, f)
        partial.replace(out)
    return Delta(
        old=old_hash,
        new=new_hash,
        sha256=sha256_file(out),
        size=out.stat().st_size,
        copied=len(plan["copies"]),  # type: ignore[arg-type]
        patched=sum(len(g.files) for g in groups) - added,
        added=added,
        settings=settings(),
    )


def cached_delta(old: str, new: str) -> Delta | None:
    """The delta from layer `old` to layer `new` in the cache, if complete and made as this one would be."""
    meta = delta_store() / f"{old}-{new}.json"
    if not meta.is_file():
        return None
    delta = Delta(**json.loads(meta.read_text(encoding="utf-8")))
    return delta if delta.path.is_file() and delta.settings == settings() else None


def layer_delta(old: Layer, new: Layer) -> Delta:
    """The delta from the cached layer `old` to the cached layer `new`: from the cache, or made now from
    their archives, unpacked here as a robot unpacks them (its own assemble.unpack)."""
    if (found := cached_delta(old.hash, new.hash)) is not None:
        return found
    store = delta_store()
    with tempfile.TemporaryDirectory(prefix=".build-", dir=store) as tmp:
        dirs = []
        for layer in (old, new):
            if not layer.archive.is_file():
                what = f"layer {layer.hash} ({layer.name} {layer.version})"
                raise DeltaError(f"{what} is not in the cache: build it first (`nox -s bundle`)")
            dirs.append(Path(assemble.unpack(tmp, str(layer.archive), layer.archive_sha256)))
        delta = write_delta(dirs[0], dirs[1], old.hash, new.hash, Path(tmp) / "delta")
        (Path(tmp) / "delta").replace(delta.path)
        meta = Path(tmp) / "meta.json"
        meta.write_text(json.dumps(asdict(delta), sort_keys=True, indent=1) + "\n", encoding="utf-8")
        meta.replace(store / f"{old.hash}-{new.hash}.json")  # written last: marks the entry complete
    return delta


# Smaller layers travel whole: a delta would save at most a few hundred KiB and cost the robot a start
# of zstd per layer.
DELTA_MIN_BYTES = 1 << 20
# Only these layers have an earlier version of themselves to patch (an app layer is tens of KiB).
DELTA_KINDS = ("package", "core")


def release_deltas(
    layers: list[Layer], before: Mapping[str, Any], root: Path
) -> tuple[dict[str, ManifestDelta], list[str]]:
    """The `delta` manifest entry of each of the new release's layers that travels better as a delta
    from its version in `before` (the image's previous release), published under root/deltas/; and what
    was left whole and why, for the build's output.

    A layer gets one when it is a package (or horus-core) layer of at least DELTA_MIN_BYTES that
    `before` has in another version, both are in the layer cache, and the delta is smaller than the
    layer's archive. Deltas are made once per pair (cached), so a rebuild offers the same bytes."""
    old_by_name = {(la["kind"], la["name"]): la["hash"] for la in before["layers"]}
    have = set(old_by_name.values())
    offered: dict[str, ManifestDelta] = {}
    whole: list[str] = []
    for new in layers:
        old_hash = old_by_name.get((new.kind, new.name))
        if new.kind not in DELTA_KINDS or new.hash in have or old_hash is None or new.archive_size < DELTA_MIN_BYTES:
            continue
        what = f"{new.kind} {new.name} {new.version}"
        old = cached_layer(old_hash)
        if old is None:
            whole.append(f"{what}: its previous layer {old_hash[:16]} is not in the layer cache")
            continue
        if cached_delta(old.hash, new.hash) is not None:
            delta = layer_delta(old, new)
        else:
            with step(f"delta {new.name} {old.version} -> {new.version}"):
                delta = layer_delta(old, new)
        if delta.size >= new.archive_size:
            whole.append(f"{what}: its delta ({delta.size} bytes) is no smaller than the layer")
            continue
        (root / "deltas").mkdir(exist_ok=True)
        publish_link(delta.path, root / delta_archive(delta.old, delta.new))
        offered[new.hash] = {"from": old.hash, "sha256": delta.sha256, "size": delta.size}
    return offered, whole
