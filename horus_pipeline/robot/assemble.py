"""Assemble a HORUS release on a robot from its unpacked layers. Standard library only.

This file ships with every release (it is the release's `tool` layer, and each assembled
release holds a copy as `assemble.py`) and runs under the robot's system Python:

    python3 assemble.py unpack   --root /opt/demo ARCHIVE.tar.gz ...   # verify + unpack layers
    python3 assemble.py assemble --root /opt/demo RELEASE.json         # build releases/<id>/
    python3 assemble.py verify   --root /opt/demo RELEASE_ID           # check an assembled release

Layout under the root (the image's install prefix):

    layers/<layer-hash>/              unpacked layers; read, never written, by assembly
    releases/<release-id>/            MANIFEST.json, assemble.py, venv/, app -> ../../layers/<app-layer>

`unpack` checks each archive's sha256 (against `--manifest` or the `.sha256` file beside it),
extracts it into a temporary directory and renames that into `layers/<hash>`, several
archives at once on up to MAX_JOBS threads (as `assemble` and `verify` hash files). `assemble`
builds the release in `releases/.<id>.tmp-<pid>` (hard links from the layers, `pyvenv.cfg`
with home = the directory of the robot's Python, `bin/python` -> that Python, console
scripts whose shebang is this release's venv python), verifies every file against the
manifest, and renames it into place: a release directory that exists is complete. Running
it again for an assembled release only verifies it. Exit status 0 on success, 1 on any
error (the message on stderr says what and what to do), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

try:
    from . import contract
except ImportError:  # run as a script (also `python3 -I`) from a release: contract.py lies beside it (the tool layer)
    sys.dont_write_bytecode = True  # no __pycache__ in a read-only layer: its index lists every file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import contract  # type: ignore[no-redef]

# 2: the manifest carries how the release runs (`deploy`), under the id and the signature.
FORMAT = 2
# Each layer's index: the sha256 of each of its files; the manifest holds the index's sha256.
INDEX_NAME = ".horus-layer.json"
_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
# Bytes per read when hashing and unpacking: few Python-level calls per file on a slow robot.
COPY_BUFSIZE = 1 << 20
MAX_JOBS = 4
# A layer's index lists one hash per file: no real one comes near this.
MAX_INDEX_BYTES = 64 << 20
# Console scripts become executables in venv/bin written by root: what a wheel says about them
# (untrusted input) must be a plain file name and dotted Python names.
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({call}())
"""


class AssemblyError(Exception):
    """Something is wrong with the layers, the manifest or this robot; the message says what."""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(COPY_BUFSIZE)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def jobs() -> int:
    """Threads for hashing and unpacking: the CPUs this process may run on, at most MAX_JOBS.

    The heavy work (sha256, inflating, writing files) runs outside Python's global lock, so
    threads use several cores; the cap leaves CPU to the nodes running beside a deploy.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, cpus))


def sha256_files(files: list[tuple[str, int]], threads: int) -> dict[str, str]:
    """The sha256 of each (path, size), hashed on `threads` threads, each taking a share of the bytes."""
    if threads <= 1 or len(files) <= 1:
        return {path: sha256_file(path) for path, _ in files}
    shares: list[list[str]] = [[] for _ in range(threads)]
    load = [0] * threads
    for path, size in sorted(files, key=lambda f: -f[1]):  # the biggest first, each to the least loaded share
        i = load.index(min(load))
        shares[i].append(path)
        load[i] += size + 4096  # opening a file costs about as much as hashing 4 KiB
    digests: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for part in pool.map(lambda share: {path: sha256_file(path) for path in share}, shares):
            digests.update(part)
    return digests


def release_id(manifest: Mapping[str, object]) -> str:
    """The id a manifest's content gives it: the manifest minus its `id` field and its layers' `delta`
    entries. The id names what the robot runs; a delta is only a way a layer may travel, and which one a
    build offers depends on the release before it, so the same inputs keep one id. The signature still
    covers the deltas, and a layer rebuilt from one is checked against its `index_sha256`."""
    body = {k: v for k, v in manifest.items() if k != "id"}
    layers = body.get("layers")
    if isinstance(layers, list):
        body["layers"] = [
            {k: v for k, v in layer.items() if k != "delta"} if isinstance(layer, dict) else layer for layer in layers
        ]
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def console_script_problem(name: str, module: str, attr: str) -> str | None:
    """What is wrong with a console script entry point (None: nothing); the build and the robot both ask."""
    if not _SCRIPT_NAME.match(name):
        return f"script name {name!r} is not a plain file name (letters, digits, '._+-', not starting with '.')"
    for what, value in (("module", module), ("attribute", attr)):
        if not _DOTTED_NAME.match(value):
            return f"script {name!r}: {what} {value!r} is not a dotted Python name"
    return None


def load_manifest(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise AssemblyError(f"cannot read release manifest {path}: {exc}") from None
    return parse_manifest(data, path)


def parse_manifest(data: bytes, path: str) -> dict:
    """The manifest these bytes hold, refused unless its format is ours, its content hashes to its id
    and its console scripts are plain names (`path` names it in errors)."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise AssemblyError(f"cannot read release manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise AssemblyError(f"{path}: a release manifest is a JSON object")
    if manifest.get("format") != FORMAT:
        raise AssemblyError(
            f"{path}: manifest format {manifest.get('format')!r}, this tool reads format {FORMAT}: "
            "assemble with the assemble.py of that release"
        )
    if manifest.get("id") != release_id(manifest):
        raise AssemblyError(f"{path}: its content does not match its id {manifest.get('id')!r}: modified or corrupt")
    for script in manifest.get("console_scripts", []):
        problem = console_script_problem(str(script.get("name")), str(script.get("module")), str(script.get("attr")))
        if problem:
            raise AssemblyError(f"{path}: {problem}: refused, nothing written")
    return manifest


# ---------------------------------------------------------------- unpack


def outside_layer(name: str) -> bool:
    """True unless `name` is a relative path inside a layer: not absolute, no empty, `.` or `..` part."""
    return name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/"))


def _checked_members(tar: tarfile.TarFile, archive: str, max_bytes: int | None) -> Iterator[tarfile.TarInfo]:
    """The archive's entries as they are read, each refused unless a plain file or directory inside
    the layer that no earlier entry named, and normalised as the build made it: owned by root,
    mode 0755 or 0644 (no setuid, setgid, sticky or group/world write bits). The layer's files
    (its index aside) may add up to `max_bytes` at most (the manifest's unpacked size)."""
    seen: set[str] = set()
    total = 0
    for m in tar:
        name = m.name.rstrip("/")
        if outside_layer(name):
            raise AssemblyError(f"{archive}: entry {m.name!r} points outside the layer")
        if not (m.isreg() or m.isdir()):
            raise AssemblyError(f"{archive}: entry {m.name!r} is not a file or directory")
        if name in seen:
            raise AssemblyError(f"{archive}: entry {m.name!r} appears twice: which one is the layer's?")
        seen.add(name)
        if m.isreg():
            total += 0 if name == INDEX_NAME else m.size
            if (name == INDEX_NAME and m.size > MAX_INDEX_BYTES) or (max_bytes is not None and total > max_bytes):
                raise AssemblyError(f"{archive}: entry {m.name!r} takes the layer past its size in the manifest")
        m.mode = 0o755 if m.isdir() or m.mode & 0o100 else 0o644
        m.uid = m.gid = 0
        m.uname = m.gname = "root"
        yield m


def unpack(root: str, archive: str, expected: str | None, max_bytes: int | None = None, hashed: bool = False) -> str:
    """Verify one layer archive and unpack it to root/layers/<hash>; return that directory.

    The archive is hashed first and unpacked only when its sha256 is the expected one (`hashed`:
    the caller hashed this very file, in a directory of its own, and found `expected`). Then it
    is decompressed once: each entry is checked and extracted as it is read (listing all
    entries first would decompress the archive twice, costly on a slow robot), into a
    temporary directory that is renamed into place only once every entry was good.
    """
    name = os.path.basename(archive)
    if not name.endswith(".tar.gz"):
        raise AssemblyError(f"{archive}: a layer archive is named <layer-hash>.tar.gz")
    layer = name[: -len(".tar.gz")]
    dest = os.path.join(root, contract.LAYERS_DIR, layer)
    if expected is None:
        try:
            with open(archive + ".sha256", encoding="utf-8") as f:
                expected = f.read().split()[0]
        except (OSError, IndexError):
            hint = f"give --manifest, or put {name}.sha256 beside it"
            raise AssemblyError(f"{archive}: no expected sha256 ({hint})") from None
    actual = expected if hashed else sha256_file(archive)
    if actual != expected:
        raise AssemblyError(f"{archive}: sha256 {actual} but {expected} expected: corrupt or tampered, not unpacked")
    if os.path.isdir(dest):
        return dest
    os.makedirs(os.path.join(root, contract.LAYERS_DIR), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{layer}.tmp-{os.getpid()}-", dir=os.path.join(root, contract.LAYERS_DIR))
    try:
        with gzip.open(archive, "rb") as gz, tarfile.TarFile(fileobj=gz, copybufsize=COPY_BUFSIZE) as tar:
            tar.extractall(tmp, members=_checked_members(tar, archive, max_bytes))  # no links, nothing outside
        os.chmod(tmp, 0o755)  # what the tar's own root entry would give (mkdtemp makes it 0700)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):
                raise
            shutil.rmtree(tmp)  # unpacked meanwhile by another unpack of the same layer
    except (EOFError, gzip.BadGzipFile, tarfile.TarError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AssemblyError(f"{archive}: not a readable layer archive ({exc}), though its sha256 matched") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def unpack_all(
    root: str, archives: list[tuple[str, str | None, int | None]], threads: int, hashed: bool = False
) -> list[str]:
    """unpack() each (archive, expected sha256, unpacked size cap), the biggest first, `threads` at
    a time; their directories in the given order. Each archive is unpacked or not at all, whatever
    the others do; the first error (in the given order) is raised once all are done."""
    if threads <= 1 or len(archives) <= 1:
        return [unpack(root, *archive, hashed=hashed) for archive in archives]
    biggest_first = sorted(archives, key=lambda a: -os.path.getsize(a[0]))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {a[0]: pool.submit(unpack, root, *a, hashed=hashed) for a in biggest_first}
    return [futures[archive].result() for archive, _, _ in archives]


# ---------------------------------------------------------------- assemble


def check_robot(manifest: dict) -> None:
    target = manifest["target"]
    machine = _ARCH_ALIASES.get(platform.machine(), platform.machine())
    if machine != target["arch"]:
        raise AssemblyError(f"release {manifest['id']} is for {target['arch']}, this robot is {machine}")
    have = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if have != target["python"]:
        raise AssemblyError(
            f"release {manifest['id']} is for Python {target['python']}, this is Python {have} ({sys.executable})"
        )
    python = manifest["python"]["executable"]
    if not os.path.exists(python):
        raise AssemblyError(f"release {manifest['id']} runs {python}, which this robot does not have")


def _layer_dir(root: str, layer: dict) -> str:
    path = os.path.join(root, contract.LAYERS_DIR, layer["hash"])
    if not os.path.isdir(path):
        raise AssemblyError(
            f"layer {layer['hash']} ({layer['kind']} {layer['name']} {layer['version']}) is not unpacked in "
            f"{os.path.join(root, contract.LAYERS_DIR)}: run `assemble.py unpack` on {layer['archive']} first"
        )
    return path


def _layer_tree(path: str) -> tuple[list[str], list[str]]:
    """The directories (each before its contents) and the files of an unpacked layer, as relative
    paths, its index aside. One scandir per directory: an entry says what it is, no stat per file."""
    dirs: list[str] = []
    files: list[str] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(path, rel_dir)) as entries:
            found = sorted(entries, key=lambda e: e.name)
        subdirs = []
        for entry in found:
            rel = os.path.join(rel_dir, entry.name) if rel_dir else entry.name
            if entry.is_symlink():
                raise AssemblyError(f"{entry.path}: a layer holds no symlinks: the layer was modified")
            if entry.is_dir():
                dirs.append(rel)
                subdirs.append(rel)
            elif not entry.is_file():
                raise AssemblyError(f"{entry.path}: a layer holds only files and directories: the layer was modified")
            elif rel != INDEX_NAME:
                files.append(rel)
        pending.extend(reversed(subdirs))
    return dirs, files


def layer_index(root: str, layer: dict) -> dict[str, str]:
    """The layer's file hashes, from its index, after checking the index against the manifest."""
    path = os.path.join(_layer_dir(root, layer), INDEX_NAME)
    try:
        actual = sha256_file(path)
        with open(path, encoding="utf-8") as f:
            files: dict[str, str] = json.load(f)["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise AssemblyError(f"layer {layer['hash']} ({layer['name']}): cannot read its {INDEX_NAME}: {exc}") from None
    if actual != layer["index_sha256"]:
        raise AssemblyError(
            f"layer {layer['hash']} ({layer['name']}): {INDEX_NAME} has sha256 {actual}, the manifest says "
            f"{layer['index_sha256']}: the unpacked layer was modified; remove it and unpack it again"
        )
    return files


def _write(path: str, text: str, mode: int) -> None:
    """Create a new file (never one that exists, never through a planted symlink) with `text`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)  # as asked, whatever the umask


def _console_script(venv_python: str, module: str, attr: str) -> str:
    head = attr.split(".")[0]
    return SCRIPT.format(python=venv_python, module=module, head=head, call=attr)


def build_release(root: str, manifest: dict, work: str, final: str) -> tuple[int, dict[str, list[str]]]:
    """Fill `work` (which becomes `final`) with the release; return the number of files linked, and
    the files of each layer (by hash) as found while linking them."""
    python = manifest["python"]
    venv = os.path.join(work, "venv")
    site = os.path.join(venv, "lib", f"python{manifest['target']['python']}", "site-packages")
    os.makedirs(site)
    os.makedirs(os.path.join(venv, "bin"), exist_ok=True)
    linked = 0
    layer_files: dict[str, list[str]] = {}
    for layer in manifest["layers"]:
        layer_index(root, layer)  # refuse a modified layer before linking anything of it
        src = _layer_dir(root, layer)
        dirs, files = _layer_tree(src)
        layer_files[layer["hash"]] = files
        into = layer["into"]
        if into == "app":
            os.symlink(os.path.join("..", "..", contract.LAYERS_DIR, layer["hash"]), os.path.join(work, "app"))
            continue
        base = venv if into == "venv" else work
        for rel in dirs:  # each before its contents
            os.makedirs(os.path.join(base, rel), exist_ok=True)
        for rel in files:
            try:
                os.link(os.path.join(src, rel), os.path.join(base, rel))
            except FileExistsError:
                clash = f"{rel} is in two layers (the second is {layer['name']})"
                raise AssemblyError(f"{clash}: the manifest is wrong") from None
            linked += 1
    final_python = os.path.join(final, "venv", "bin", "python")
    for script in manifest["console_scripts"]:
        text = _console_script(final_python, script["module"], script["attr"])
        _write(os.path.join(venv, "bin", script["name"]), text, 0o755)
    os.symlink(python["executable"], os.path.join(venv, "bin", "python"))
    for alias in ("python3", f"python{manifest['target']['python']}"):
        os.symlink("python", os.path.join(venv, "bin", alias))
    cfg = (
        f"home = {python['home']}\n"
        "include-system-site-packages = false\n"
        f"version = {platform.python_version()}\n"
        f"executable = {python['executable']}\n"
    )
    _write(os.path.join(venv, "pyvenv.cfg"), cfg, 0o644)
    with open(os.path.join(work, contract.MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump(manifest, f, sort_keys=True, indent=1)
        f.write("\n")
    return linked, layer_files


def verify_release(
    root: str,
    manifest: dict,
    path: str,
    layer_files: dict[str, list[str]] | None = None,
    trusted: Collection[str] = (),
    linked_now: bool = False,
) -> int:
    """Check every file of an assembled release against the manifest; return how many were checked.

    Each layer's index is checked against the manifest, the layer must hold exactly the files
    of its index, and each file as the release sees it must have the index's sha256 (each
    inode hashed once, on jobs() threads). `layer_files` (layer hash -> its files), when
    given, is what build_release found in the layers moments ago; otherwise the layers are
    listed here. A layer in `trusted` (by hash) had its bytes checked already: unpacked from an
    archive of the manifest's sha256 by this same run, or part of a release verified before.
    Root alone writes layers, so each of its files in the release must only be the layer's own
    file (the same inode), not hashed again: on a small robot hashing torch's files takes a minute.
    `linked_now`: build_release linked the release from the layers in this very run, so a trusted
    layer's files are its own by construction (on a small robot each stat of torch's files costs too).
    """
    checks: list[tuple[str, tuple[int, int], str]] = []  # (path in the release, inode, sha256 expected)
    inodes: dict[tuple[int, int], tuple[str, int]] = {}  # inode -> (a path to it, its size)
    same = 0  # files of trusted layers found to be the layer's own
    for layer in manifest["layers"]:
        index = layer_index(root, layer)
        src = _layer_dir(root, layer)
        files = layer_files[layer["hash"]] if layer_files is not None else _layer_tree(src)[1]
        present = set(files)
        if present != set(index):
            extra = sorted(present - set(index))[:3]
            missing = sorted(set(index) - present)[:3]
            raise AssemblyError(
                f"layer {layer['hash']} ({layer['name']}) does not hold the files of its index "
                f"(extra {extra}, missing {missing}): remove it and unpack it again"
            )
        prefix = {"venv": "venv/", "app": "app/", "tool": ""}[layer["into"]]
        if linked_now and layer["hash"] in trusted and layer["into"] != "app":
            same += len(index)
            continue
        for rel, digest in index.items():
            full = os.path.join(path, prefix + rel)
            try:
                st = os.stat(full)
            except OSError:
                raise AssemblyError(f"release {manifest['id']}: {prefix + rel} is missing") from None
            key = (st.st_dev, st.st_ino)
            if layer["hash"] in trusted:
                own = os.stat(os.path.join(src, rel))
                if key != (own.st_dev, own.st_ino):
                    raise AssemblyError(f"release {manifest['id']}: {prefix + rel} is not its layer's file")
                same += 1
                continue
            inodes.setdefault(key, (full, st.st_size))
            checks.append((prefix + rel, key, digest))
        if layer["into"] == "app":
            link = os.readlink(os.path.join(path, "app"))
            if link != os.path.join("..", "..", contract.LAYERS_DIR, layer["hash"]):
                raise AssemblyError(f"release {manifest['id']}: app points at {link}, not its app layer")
    digests = sha256_files(list(inodes.values()), jobs())
    for rel, key, digest in checks:
        actual = digests[inodes[key][0]]
        if actual != digest:
            raise AssemblyError(f"release {manifest['id']}: {rel} has sha256 {actual}, the manifest says {digest}")
    for script in manifest["console_scripts"]:
        if not os.access(os.path.join(path, "venv", "bin", script["name"]), os.X_OK):
            raise AssemblyError(f"release {manifest['id']}: console script {script['name']} is missing")
    return len(checks) + same


def assemble(root: str, manifest_path: str) -> str:
    """Assemble the release of `manifest_path` under root; return its directory."""
    return assemble_release(os.path.abspath(root), load_manifest(manifest_path))


def assemble_release(root: str, manifest: dict, trusted: Collection[str] = ()) -> str:
    """Assemble the release of an already checked `manifest` under root; return its directory
    (`trusted`: layers whose bytes were checked already, as verify_release takes them)."""
    check_robot(manifest)
    rid = manifest["id"]
    releases = os.path.join(root, contract.RELEASES_DIR)
    final = os.path.join(releases, rid)
    if os.path.isdir(final):
        verify_release(root, manifest, final, trusted=trusted)
        print(f"release {rid} is already assembled at {final} (verified)")
        return final
    os.makedirs(releases, exist_ok=True)
    for name in os.listdir(releases):  # leftovers of an interrupted run
        if name.startswith(f".{rid}.tmp-"):
            shutil.rmtree(os.path.join(releases, name), ignore_errors=True)
    work = os.path.join(releases, f".{rid}.tmp-{os.getpid()}")
    start = time.monotonic()
    try:
        linked, layer_files = build_release(root, manifest, work, final)
        checked = verify_release(root, manifest, work, layer_files, trusted, linked_now=True)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    took = time.monotonic() - start
    print(f"release {rid} assembled at {final}: {linked} files linked, {checked} verified, in {took:.2f}s")
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assemble.py",
        description="Unpack layers and assemble a HORUS release on this robot (standard library only).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_unpack = sub.add_parser("unpack", help="verify layer archives and unpack them into ROOT/layers/<hash>")
    p_unpack.add_argument("--root", required=True, help="the app's install prefix, e.g. /opt/demo")
    p_unpack.add_argument("--manifest", help="take expected sha256s from this release manifest")
    p_unpack.add_argument("archives", nargs="+", metavar="ARCHIVE", help="layers/<hash>.tar.gz files")
    p_asm = sub.add_parser("assemble", help="build ROOT/releases/<id>/ from unpacked layers and verify it")
    p_asm.add_argument("--root", required=True, help="the app's install prefix, e.g. /opt/demo")
    p_asm.add_argument("manifest", metavar="RELEASE.json", help="the release manifest")
    p_ver = sub.add_parser("verify", help="check an assembled release against its manifest")
    p_ver.add_argument("--root", required=True, help="the app's install prefix, e.g. /opt/demo")
    p_ver.add_argument("release", metavar="RELEASE_ID")
    args = parser.parse_args(argv)
    try:
        if args.command == "unpack":
            expected: dict[str, tuple[str, int]] = {}
            if args.manifest:
                for layer in load_manifest(args.manifest)["layers"]:
                    expected[layer["hash"]] = (layer["archive_sha256"], int(layer["size"]))
            archives: list[tuple[str, str | None, int | None]] = []
            for archive in args.archives:
                layer = os.path.basename(archive)[: -len(".tar.gz")]
                if args.manifest and layer not in expected:
                    raise AssemblyError(f"{archive} is not a layer of {args.manifest}")
                sha, size = expected.get(layer, (None, None))
                archives.append((archive, sha, size))
            for unpacked in unpack_all(args.root, archives, jobs()):
                print(unpacked)
        elif args.command == "assemble":
            assemble(args.root, args.manifest)
        else:
            path = os.path.join(os.path.abspath(args.root), contract.RELEASES_DIR, args.release)
            manifest = load_manifest(os.path.join(path, contract.MANIFEST_FILE))
            count = verify_release(os.path.abspath(args.root), manifest, path)
            print(f"release {args.release}: {count} files verified")
    except AssemblyError as exc:
        print(f"assemble.py: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"assemble.py: error: {exc} (nothing was switched; fix it and run again)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
