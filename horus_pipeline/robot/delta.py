"""Rebuild a layer on the robot from a layer it has and a delta. Standard library, `zstd` and `xdelta3`.

A delta (written by horus_pipeline/bundle/delta.py) is an uncompressed tar, read front to back:

    plan.json.gz                  which old layer and which new layer; the new layer's directories;
                                  for each of its files, its mode and where its bytes come from
    0.zst, 1.vcdiff, 2.zst ...    one patch per group of files, in the plan's order

A file of the new layer comes either from a file of the old layer (`copies`: same bytes, any path)
or from a group: the concatenation of the group's files is what the group's patch makes against
the concatenation of the old files the group names (`refs`; none: the patch is the bytes new to
this version, compressed). A group is a zstd frame (`zstd --patch-from`, member `N.zst`) when its
output and its reference are at most ZSTD_MAX_BYTES each: zstd holds both while it works. A bigger
file is alone in its group, a VCDIFF patch (`xdelta3`, member `N.vcdiff`), which holds at most
SOURCE_WINDOW bytes of the reference (it seeks in the rest) and 16 MiB of output, however big the
file: an apply stays under the 512 MiB of issue 27. Measured: torch 2.9.1's libtorch_cpu.so
(241 MiB) from 2.9.0's, 272 MB RSS for xdelta3 where zstd takes 486 MB; this process, 55 MB. The
patch's output is cut into the group's files as it streams, so no file is read whole into memory.

`apply_delta` rebuilds in a temporary directory beside layers/ (never writing the old layer), checks
the delta's sha256 first, then the rebuilt index against the sha256 the caller has from the signed
manifest and every file against that index, and only then renames it to layers/<new-hash>: a layer
rebuilt from a delta is the layer the full archive gives, or nothing. On any failure the caller
sends the full archive instead; the message says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterator
from typing import IO, Any

try:
    from . import assemble, contract
except ImportError:  # beside assemble.py in a release's tool layer, run as a script
    import assemble  # type: ignore[no-redef]
    import contract  # type: ignore[no-redef]

FORMAT = 1
PLAN_NAME = "plan.json.gz"
# A plan lists every file of one layer: torch's is about 2.5 MB of JSON (140 kB gzipped).
MAX_PLAN_BYTES = 64 << 20
# Bytes of a reference xdelta3 keeps in memory (its -B), the same when a patch is made and applied:
# the whole of torch's biggest file (libtorch_cpu.so, 241 MiB in 2.9).
SOURCE_WINDOW = 256 << 20
MIN_SOURCE_WINDOW = 1 << 20
# The most a zstd frame may make, and patch against: zstd's memory is about both (256 MiB at most).
ZSTD_MAX_BYTES = 128 << 20
# What each kind of group is made and applied with, by the suffix of its member.
TOOLS = {"zst": "zstd", "vcdiff": "xdelta3"}
FILE_MODES = (0o644, 0o755)


def delta_archive(old_hash: str, new_hash: str) -> str:
    """Where a release bundle keeps the delta from layer `old_hash` to layer `new_hash`, relative to the
    image's bundle directory: the name the build publishes, the robot asks for and the role packs."""
    return f"deltas/{old_hash}-{new_hash}.delta"


class DeltaError(Exception):
    """A delta cannot rebuild its layer here; the message says why and to send the full layer."""


class DeltaUnavailable(DeltaError):
    """This robot cannot use a delta at all (no zstd or xdelta3, or not the old layer): send the full layer."""


def tool_command(name: str) -> str:
    """The executable of one of TOOLS; DeltaUnavailable when this robot has none."""
    found = shutil.which(name)
    if found is None:
        raise DeltaUnavailable(f"{name} is not installed on this robot (Debian package {name}): send the full layer")
    return found


def can_apply() -> bool:
    """True when this robot has every tool a delta may need (a delta is offered to it only then)."""
    return all(shutil.which(tool) for tool in TOOLS.values())


def source_window(reference_size: int) -> int:
    """xdelta3's -B for a reference of this size: all of it, within [MIN_SOURCE_WINDOW, SOURCE_WINDOW]."""
    return max(MIN_SOURCE_WINDOW, min(SOURCE_WINDOW, reference_size))


def _checked_path(value: object, what: str) -> str:
    """A relative path inside a layer, as the plan gives it: no absolute, empty, `.` or `..` part."""
    if not isinstance(value, str) or not value or value.startswith("/") or "\0" in value:
        raise DeltaError(f"{what} {value!r} is not a path inside a layer: corrupt delta, send the full layer")
    if assemble.outside_layer(value):
        raise DeltaError(f"{what} {value!r} points outside the layer: corrupt delta, send the full layer")
    return value


def _mode(value: object, path: str) -> int:
    if not isinstance(value, int) or value not in FILE_MODES:
        raise DeltaError(f"plan: {path} has mode {value!r}, not 0644 or 0755: corrupt delta, send the full layer")
    return value


def read_plan(raw: bytes, old_hash: str, new_hash: str) -> dict[str, Any]:
    """The plan these (gzip) bytes hold, checked to be a plan of this old and new layer, with safe paths,
    the two file modes, sizes that are counts, each new file once, and each file's directory listed."""
    try:
        inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip, and no more than a plan's worth of it
        plan = json.loads(inflate.decompress(raw, MAX_PLAN_BYTES))
        if inflate.unconsumed_tail:
            raise ValueError(f"more than {MAX_PLAN_BYTES} bytes")
    except (zlib.error, ValueError) as exc:
        raise DeltaError(f"{PLAN_NAME}: unreadable ({exc}): corrupt delta, send the full layer") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise DeltaError(f"{PLAN_NAME}: not a delta plan of format {FORMAT}: send the full layer")
    if (plan.get("old"), plan.get("new")) != (old_hash, new_hash):
        raise DeltaError(
            f"the delta turns layer {plan.get('old')} into {plan.get('new')}, not {old_hash} into {new_hash}: "
            "send the full layer"
        )
    dirs = {_checked_path(d, "directory") for d in plan.get("dirs", [])}
    seen: set[str] = set()

    def new_file(path: object) -> str:
        rel = _checked_path(path, "file")
        if rel in seen or rel in dirs:
            raise DeltaError(f"plan: {rel} is named twice: corrupt delta, send the full layer")
        parent = rel.rpartition("/")[0]
        if parent and parent not in dirs:
            raise DeltaError(f"plan: the directory of {rel} is not listed: corrupt delta, send the full layer")
        seen.add(rel)
        return rel

    try:
        for path, mode, ref in plan["copies"]:
            _mode(mode, new_file(path))
            _checked_path(ref, "old file")
        for number, group in enumerate(plan["groups"]):
            if group["member"] not in {f"{number}.{suffix}" for suffix in TOOLS}:
                raise DeltaError(f"plan: group {number} is in member {group['member']!r}: corrupt delta")
            for ref in group["refs"]:
                _checked_path(ref, "old file")
            for path, mode, size in group["files"]:
                _mode(mode, new_file(path))
                if not isinstance(size, int) or size < 0:
                    raise DeltaError(f"plan: {path} has size {size!r}: corrupt delta, send the full layer")
    except (KeyError, TypeError, ValueError) as exc:
        raise DeltaError(f"{PLAN_NAME}: malformed ({exc!r}): corrupt delta, send the full layer") from None
    if not isinstance(plan.get("mtime"), int):
        raise DeltaError(f"{PLAN_NAME}: mtime {plan.get('mtime')!r} is not a time: corrupt delta, send the full layer")
    if assemble.INDEX_NAME not in seen:
        raise DeltaError(f"plan: no {assemble.INDEX_NAME}: corrupt delta, send the full layer")
    return plan


def _old_file(old: str, ref: str) -> str:
    """A regular file of the old layer (a link there is refused: a layer holds none)."""
    path = os.path.join(old, ref)
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise DeltaError(
            f"the old layer has no file {ref}: it is not the layer the delta was made from; send the full layer"
        )
    return path


def _copy(src: str, dst: str, mode: int, mtime: int) -> None:
    """The old file as a new file of the new layer: a hard link when it already has the mode and time the
    new layer's file has (nothing of the old layer changes), else a copy."""
    st = os.lstat(src)
    if stat.S_IMODE(st.st_mode) == mode and int(st.st_mtime) == mtime:
        os.link(src, dst)
        return
    with open(src, "rb") as f, open(dst, "xb") as g:
        shutil.copyfileobj(f, g, assemble.COPY_BUFSIZE)
    os.chmod(dst, mode)
    os.utime(dst, (mtime, mtime))


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if not member.isreg():
            raise DeltaError(f"delta entry {member.name!r} is not a file: corrupt delta, send the full layer")
        yield member


def _feed(src: IO[bytes], dst: IO[bytes], failed: list[BaseException]) -> None:
    """Copy a tar member into the patch tool's stdin (on a thread: its stdout is read meanwhile)."""
    try:
        shutil.copyfileobj(src, dst, assemble.COPY_BUFSIZE)
    except BaseException as exc:  # handed to the main thread, which raises it
        failed.append(exc)
    finally:
        with contextlib.suppress(OSError):  # the tool gave up and closed its end: its exit status says why
            dst.close()


def _reference(old: str, refs: list[str], scratch: str) -> str | None:
    """The file a group is patched against: the one old file, or the old files concatenated into `scratch`."""
    if not refs:
        return None
    if len(refs) == 1:
        return _old_file(old, refs[0])
    with open(scratch, "xb") as out:
        for ref in refs:
            with open(_old_file(old, ref), "rb") as f:
                shutil.copyfileobj(f, out, assemble.COPY_BUFSIZE)
    return scratch


def _argv(group: dict[str, Any], reference: str | None) -> list[str]:
    """The command that turns the group's patch (stdin) into its files' bytes (stdout)."""
    tool = TOOLS[group["member"].rpartition(".")[2]]
    ref_size = os.path.getsize(reference) if reference else 0
    if tool == "xdelta3":
        argv = [tool_command(tool), "-d", "-c", "-q"]
        return argv + (["-B", str(source_window(ref_size)), "-s", reference] if reference else [])
    out_size = sum(size for _, _, size in group["files"])
    if max(out_size, ref_size) > ZSTD_MAX_BYTES:
        raise DeltaError(f"group {group['member']} is bigger than a zstd frame may be: corrupt delta")
    # zstd's window is the group's output: allow it that much memory (its default stops at 128 MiB).
    argv = [tool_command(tool), "-d", "-q", "-c", f"--memory={max(out_size, ref_size, 1 << 20) // 1024 + 1}KiB"]
    return argv + ([f"--patch-from={reference}"] if reference else [])


def _apply_group(member: IO[bytes], reference: str | None, group: dict[str, Any], work: str, mtime: int) -> None:
    """Apply one group's patch and cut its output into the group's files, as it streams."""
    argv = _argv(group, reference)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    failed: list[BaseException] = []
    feeder = threading.Thread(target=_feed, args=(member, proc.stdin, failed), daemon=True)
    feeder.start()
    try:
        problem = _split(proc.stdout, group, work, mtime)
    finally:
        proc.stdout.close()
        feeder.join()
        said = proc.stderr.read(4096).decode(errors="replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if failed:
        raise failed[0]
    if code != 0:
        raise DeltaError(f"{argv[0]} could not apply group {group['member']} ({code}: {said}): send the full layer")
    if problem:
        raise DeltaError(f"{problem}: corrupt delta, send the full layer")


def _split(output: IO[bytes], group: dict[str, Any], work: str, mtime: int) -> str:
    """Write the group's files from the patch tool's output, each its size; what is wrong with it, if anything."""
    for path, mode, size in group["files"]:
        dst = os.path.join(work, path)
        with open(dst, "xb") as out:
            left = size
            while left:
                chunk = output.read(min(left, assemble.COPY_BUFSIZE))
                if not chunk:
                    return f"group {group['member']} ends before {path} is complete"
                out.write(chunk)
                left -= len(chunk)
        os.chmod(dst, mode)
        os.utime(dst, (mtime, mtime))
    return f"group {group['member']} holds more than its files" if output.read(1) else ""


def _verify(work: str, plan: dict[str, Any], index_sha256: str) -> None:
    """The rebuilt index is the manifest's, it lists exactly the files rebuilt, and each has its sha256."""
    index_path = os.path.join(work, assemble.INDEX_NAME)
    actual = assemble.sha256_file(index_path)
    if actual != index_sha256:
        raise DeltaError(
            f"the rebuilt {assemble.INDEX_NAME} has sha256 {actual}, the manifest says {index_sha256}: "
            "send the full layer"
        )
    if os.path.getsize(index_path) > assemble.MAX_INDEX_BYTES:
        raise DeltaError(f"the rebuilt {assemble.INDEX_NAME} is too big: send the full layer")
    with open(index_path, encoding="utf-8") as f:
        index: dict[str, str] = json.load(f)["files"]
    rebuilt = {path for path, _, _ in plan["copies"]} | {p for g in plan["groups"] for p, _, _ in g["files"]}
    if rebuilt != set(index) | {assemble.INDEX_NAME}:
        missing = sorted(set(index) - rebuilt)[:3]
        extra = sorted(rebuilt - set(index) - {assemble.INDEX_NAME})[:3]
        raise DeltaError(f"the delta rebuilds other files than the index lists (missing {missing}, extra {extra})")
    files = [(os.path.join(work, rel), os.path.getsize(os.path.join(work, rel))) for rel in sorted(index)]
    digests = assemble.sha256_files(files, assemble.jobs())
    for rel, digest in sorted(index.items()):
        if digests[os.path.join(work, rel)] != digest:
            raise DeltaError(f"rebuilt {rel} does not have the sha256 of the index: send the full layer")


def apply_delta(root: str, delta: str, delta_sha256: str, old_hash: str, new_hash: str, index_sha256: str) -> str:
    """Rebuild layer `new_hash` under root/layers from layer `old_hash` and the delta file; its directory.

    `delta_sha256` and `index_sha256` come from the signed manifest. DeltaUnavailable: this robot has
    not the old layer, or not zstd or xdelta3 (checked before anything is written); DeltaError: the
    delta does not rebuild the layer. Either way nothing is left behind, the old layer is as it was,
    and the caller sends the full layer.
    """
    layers = os.path.join(root, contract.LAYERS_DIR)
    dest = os.path.join(layers, new_hash)
    if os.path.isdir(dest):
        return dest
    old = os.path.join(layers, old_hash)
    if not os.path.isdir(old):
        raise DeltaUnavailable(f"this robot does not have layer {old_hash}, the delta's base: send the full layer")
    for tool in TOOLS.values():
        tool_command(tool)
    actual = assemble.sha256_file(delta)
    if actual != delta_sha256:
        raise DeltaError(f"{delta}: sha256 {actual}, the manifest says {delta_sha256}: send the full layer")
    work = tempfile.mkdtemp(prefix=f".{new_hash}.tmp-{os.getpid()}-", dir=layers)
    scratch = f"{work}.ref"  # beside the layer being built, never inside it; ".tmp-" in its name for cleanup
    try:
        with tarfile.open(delta, "r|") as tar:
            members = _members(tar)
            first = next(members, None)
            if first is None or first.name != PLAN_NAME or first.size > MAX_PLAN_BYTES:
                raise DeltaError(f"{delta}: does not start with its {PLAN_NAME}: send the full layer")
            plan_file = tar.extractfile(first)
            assert plan_file is not None
            plan = read_plan(plan_file.read(), old_hash, new_hash)
            mtime: int = plan["mtime"]
            for rel in sorted(plan["dirs"]):
                os.mkdir(os.path.join(work, rel), 0o755)
                os.chmod(os.path.join(work, rel), 0o755)  # whatever the umask, as the archive's entries
            for path, mode, ref in plan["copies"]:
                _copy(_old_file(old, ref), os.path.join(work, path), mode, mtime)
            for group in plan["groups"]:
                member = next(members, None)
                if member is None or member.name != group["member"]:
                    raise DeltaError(f"{delta}: {group['member']} missing or out of order: send the full layer")
                data = tar.extractfile(member)
                assert data is not None
                reference = _reference(old, group["refs"], scratch)
                try:
                    _apply_group(data, reference, group, work, mtime)
                finally:
                    if reference == scratch:
                        os.unlink(scratch)
            if next(members, None) is not None:
                raise DeltaError(f"{delta}: entries after the last group: send the full layer")
        _verify(work, plan, index_sha256)
        for rel in plan["dirs"]:
            os.utime(os.path.join(work, rel), (mtime, mtime))
        os.chmod(work, 0o755)  # as unpack leaves a layer (mkdtemp makes it 0700)
        try:
            os.rename(work, dest)
        except OSError:
            if not os.path.isdir(dest):
                raise
            shutil.rmtree(work)  # rebuilt meanwhile by another run
    except (tarfile.TarError, EOFError, OSError) as exc:
        _remove(work, scratch)
        raise DeltaError(f"{delta}: could not rebuild layer {new_hash} ({exc}): send the full layer") from None
    except BaseException:
        _remove(work, scratch)
        raise
    return dest


def _remove(work: str, scratch: str) -> None:
    shutil.rmtree(work, ignore_errors=True)
    if os.path.lexists(scratch):
        os.unlink(scratch)
