"""Layer delta benchmark (issue 27): what a pin bump sends when a robot has the old version's layer.

    python tests/bench/delta.py --wheels DIR [--only torch] [--repeat 3] [--qemu ARM64_ROOTFS]

For each pair of consecutive releases (torch on aarch64, numpy and scipy on both CPUs; a minor and a
patch bump each), both wheels are downloaded once into DIR/<arch>/ (`pip download --no-deps
--only-binary=:all: --platform ... --python-version 3.11`), built into layers as the pipeline builds
them, and the new layer is sent five ways:

    reuse        files with an old sha256 taken from the old layer; the rest whole, tar.gz (-6, as layers)
    zstd-N       same, changed files as `zstd -N --patch-from` their counterpart, new ones `zstd -N`
    xdelta3      same, each changed file as `xdelta3 -9` against its counterpart (bundle/delta.py, every file alone)
    chosen       horus_pipeline.bundle.delta: files as zstd -19 --patch-from frames (small ones in groups),
                 files of over 128 MiB as xdelta3 -9 patches
    tar-zstd     the whole uncompressed new tar as `zstd -3 --patch-from` the old tar
    casync       content-defined chunks (casync, 64 KiB average): chunks of the new layer the old lacks

Prints a table (full archive, bytes on the wire and % of it, controller build time, and for
the chosen method the apply's time and peak RSS, natively and with --qemu in an arm64 userland under
qemu-user) and writes dist/bench/delta.json. Times are medians of --repeat runs with their spread
(the machines are shared); building a delta of torch is slow, so builds run once.
x86_64 torch is left out: PyPI's x86_64 torch is a CUDA build of 500+ MB, and the CPU builds are
on the PyTorch index, which this machine does not reach.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from horus_pipeline.bundle import delta
from horus_pipeline.bundle.layers import Layer, build_wheel_layer
from horus_pipeline.determinism import sha256_file
from horus_pipeline.robot import assemble
from horus_pipeline.targets import ARCHES, DEBIAN_RELEASES

ROBOT = Path(__file__).resolve().parents[2] / "horus_pipeline" / "robot"
PLATFORMS = {
    "aarch64": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
    "x86_64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
}


@dataclass(frozen=True)
class Pair:
    arch: str
    package: str
    old: str
    new: str
    bump: str


PAIRS = [
    Pair("aarch64", "torch", "2.8.0", "2.9.0", "minor"),
    Pair("aarch64", "torch", "2.9.0", "2.9.1", "patch"),
    *(
        Pair(arch, package, old, new, bump)
        for arch in ("aarch64", "x86_64")
        for package, old, new, bump in (
            ("numpy", "2.3.5", "2.4.1", "minor"),
            ("numpy", "2.4.1", "2.4.2", "patch"),
            ("scipy", "1.16.3", "1.17.0", "minor"),
            ("scipy", "1.17.0", "1.17.1", "patch"),
        )
    ),
]


def wheel(wheels: Path, arch: str, package: str, version: str) -> Path:
    where = wheels / arch
    found = sorted(where.glob(f"{package}-{version}-*.whl"))
    if not found:
        platforms = [arg for p in PLATFORMS[arch] for arg in ("--platform", p)]
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *platforms]
        subprocess.run([*argv, "--python-version", "3.11", "-d", str(where), f"{package}=={version}"], check=True)
        found = sorted(where.glob(f"{package}-{version}-*.whl"))
    return found[0]


def layer(wheels: Path, arch: str, package: str, version: str) -> Layer:
    target = DEBIAN_RELEASES["bookworm"].target(ARCHES[arch])
    path = wheel(wheels, arch, package, version)
    return build_wheel_layer(path, sha256_file(path), "package", package, version, target)[0]


def timed(argv: list[str], **kw: Any) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of a command; its output files are its result."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=False, **kw)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {proc.stderr[-500:]}")
    return took, int(proc.stderr.strip().splitlines()[-1]) * 1024


def median(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def reuse_only(old_dir: Path, new_dir: Path, work: Path) -> int:
    """Changed and new files whole, as one tar.gz at the layers' compression."""
    _, groups, _ = delta.plan_of(old_dir, new_dir, "old", "new")
    out = work / "reuse.tar.gz"
    with gzip.GzipFile(out, "wb", compresslevel=6, mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for group in groups:
            for path, _, _ in group.files:
                tar.add(new_dir / path, arcname=path)
    return out.stat().st_size


def zstd_per_file(old_dir: Path, new_dir: Path, work: Path, level: int) -> int:
    """Each changed file as zstd --patch-from its counterpart (new files: plain zstd), sizes added up."""
    _, groups, _ = delta.plan_of(old_dir, new_dir, "old", "new")
    total = 0
    refs = delta._counterparts(delta._index(old_dir))
    for group in groups:
        for path, _, _ in group.files:
            ref = path if (old_dir / path).is_file() else refs.get(delta._unversioned(path))
            argv = ["zstd", "-q", "-f", f"-{level}", "--long=28" if level >= 19 else "--long=27"]
            if ref:
                argv.append(f"--patch-from={old_dir / ref}")
            subprocess.run([*argv, str(new_dir / path), "-o", str(work / "p.zst")], check=True, capture_output=True)
            total += (work / "p.zst").stat().st_size
    return total


def tar_patch(old: Layer, new: Layer, work: Path) -> dict[str, Any]:
    """The whole uncompressed new tar against the old tar, zstd -3 --patch-from; and what applying it takes."""
    for name, lay in (("old.tar", old), ("new.tar", new)):
        with gzip.open(lay.archive) as src, open(work / name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    size = (work / "new.tar").stat().st_size + (work / "old.tar").stat().st_size
    build, _ = timed(
        [
            "zstd",
            "-q",
            "-f",
            "-3",
            "--patch-from",
            str(work / "old.tar"),
            str(work / "new.tar"),
            "-o",
            str(work / "t.zst"),
        ]
    )
    memory = f"--memory={size // 1024 + 1}KiB"
    took, rss = timed(
        [
            "zstd",
            "-q",
            "-d",
            "-f",
            memory,
            "--patch-from",
            str(work / "old.tar"),
            str(work / "t.zst"),
            "-o",
            str(work / "t.out"),
        ]
    )
    result = {"bytes": (work / "t.zst").stat().st_size, "build_s": build, "apply_s": took, "apply_rss": rss}
    for name in ("old.tar", "new.tar", "t.zst", "t.out"):
        (work / name).unlink()
    return result


def casync_chunks(old_dir: Path, new_dir: Path, work: Path) -> dict[str, Any]:
    """casync's chunks of the new layer that the old layer's chunk store lacks, and the new index."""
    old_store, new_store = work / "old.castr", work / "new.castr"
    subprocess.run(
        ["casync", "make", f"--store={old_store}", str(work / "old.caidx"), str(old_dir)],
        check=True,
        capture_output=True,
    )
    t0 = time.perf_counter()
    subprocess.run(
        ["casync", "make", f"--store={new_store}", str(work / "new.caidx"), str(new_dir)],
        check=True,
        capture_output=True,
    )
    build = time.perf_counter() - t0
    have = {p.name for p in old_store.rglob("*.cacnk")}
    sent = sum(p.stat().st_size for p in new_store.rglob("*.cacnk") if p.name not in have)
    result = {"bytes": sent + (work / "new.caidx").stat().st_size, "build_s": build}
    for path in (old_store, new_store):
        shutil.rmtree(path)
    return result


def apply_native(root: Path, made: delta.Delta, old: Layer, new: Layer) -> tuple[float, int]:
    """Time and peak RSS of robot/delta.py's apply in a fresh process (its zstd and xdelta3 included: the
    largest of them)."""
    shutil.rmtree(root / "layers" / new.hash, ignore_errors=True)
    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[1]); import delta; "
        "delta.apply_delta(*sys.argv[2:]); "
        "print(max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))"
    )
    argv = [
        sys.executable,
        "-I",
        "-c",
        code,
        str(ROBOT),
        str(root),
        str(made.path),
        made.sha256,
        old.hash,
        new.hash,
        new.index_sha256,
    ]
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, int(out.split()[-1]) * 1024


def apply_qemu(rootfs: Path, made: delta.Delta, old: Layer, new: Layer) -> tuple[float, int]:
    """The same apply in an arm64 userland under qemu-user (chroot; binfmt_misc runs its binaries)."""
    inside = rootfs / "horus-delta-bench"
    shutil.rmtree(inside, ignore_errors=True)
    (inside / "tool").mkdir(parents=True)
    for name in ("delta.py", "assemble.py", "contract.py"):
        shutil.copyfile(ROBOT / name, inside / "tool" / name)
    shutil.copyfile(made.path, inside / "layer.delta")
    assemble.unpack(str(inside / "root"), str(old.archive), old.archive_sha256)
    code = (
        "import resource, sys; sys.path.insert(0, '/horus-delta-bench/tool'); import delta; "
        "delta.apply_delta(*sys.argv[1:]); "
        "print(max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))"
    )
    args = [
        "/horus-delta-bench/root",
        "/horus-delta-bench/layer.delta",
        made.sha256,
        old.hash,
        new.hash,
        new.index_sha256,
    ]
    argv = [
        "chroot",
        str(rootfs),
        "/usr/bin/env",
        "-i",
        "PATH=/usr/bin:/bin",
        "/usr/bin/python3",
        "-I",
        "-c",
        code,
        *args,
    ]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        took = time.perf_counter() - t0
        shutil.rmtree(inside, ignore_errors=True)
    return took, int(out.split()[-1]) * 1024


def measure(pair: Pair, wheels: Path, repeat: int, levels: list[int], qemu: Path | None) -> dict[str, Any]:
    old, new = (layer(wheels, pair.arch, pair.package, v) for v in (pair.old, pair.new))
    row: dict[str, Any] = {**pair.__dict__, "full": new.archive_size, "unpacked": new.size, "methods": {}}
    methods = row["methods"]
    with tempfile.TemporaryDirectory(prefix="delta-bench-", dir=delta.delta_store()) as tmp:
        work = Path(tmp)
        root = work / "robot"
        old_dir = Path(assemble.unpack(str(root), str(old.archive), old.archive_sha256))
        new_dir = Path(assemble.unpack(str(work / "new"), str(new.archive), new.archive_sha256))
        methods["reuse"] = {"bytes": reuse_only(old_dir, new_dir, work)}
        for level in levels:
            t0 = time.perf_counter()
            methods[f"zstd-{level}"] = {
                "bytes": zstd_per_file(old_dir, new_dir, work, level),
                "build_s": time.perf_counter() - t0,
            }
        t0 = time.perf_counter()
        chosen = delta.ALONE_BYTES, delta.ZSTD_MAX_BYTES
        delta.ALONE_BYTES, delta.ZSTD_MAX_BYTES = 0, -1  # every changed file alone, and too big for zstd
        try:
            per_file = delta.write_delta(old_dir, new_dir, old.hash, new.hash, work / "per-file.delta")
        finally:
            delta.ALONE_BYTES, delta.ZSTD_MAX_BYTES = chosen
        methods["xdelta3"] = {"bytes": per_file.size, "build_s": time.perf_counter() - t0}
        (delta.delta_store() / f"{old.hash}-{new.hash}.json").unlink(missing_ok=True)  # built now, and timed
        t0 = time.perf_counter()
        made = delta.layer_delta(old, new)
        build = time.perf_counter() - t0
        applies = [apply_native(root, made, old, new) for _ in range(repeat)]
        xd: dict[str, Any] = {"bytes": made.size, "build_s": build, "sha256": made.sha256}
        xd["apply_s"] = median([a[0] for a in applies])
        xd["apply_rss"] = max(a[1] for a in applies)
        xd |= {"copied": made.copied, "patched": made.patched, "added": made.added}
        if qemu is not None and pair.arch == "aarch64":
            runs = [apply_qemu(qemu, made, old, new) for _ in range(max(1, repeat if pair.package != "torch" else 1))]
            xd["qemu_apply_s"] = median([r[0] for r in runs])
            xd["qemu_apply_rss"] = max(r[1] for r in runs)
        methods["chosen"] = xd
        methods["tar-zstd"] = tar_patch(old, new, work)
        methods["casync"] = casync_chunks(old_dir, new_dir, work)
    return row


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    names = list(rows[0]["methods"]) if rows else []
    head = [
        "pair",
        "full MB",
        *[f"{n} MB (%)" for n in names],
        "chosen: build s",
        "apply s (spread)",
        "apply RSS MB",
        "qemu apply s",
        "qemu RSS MB",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['arch']} {r['package']} {r['old']} → {r['new']} ({r['bump']})", mb(r["full"])]
        cells += [f"{mb(m['bytes'])} ({100 * m['bytes'] / r['full']:.0f} %)" for m in r["methods"].values()]
        x = r["methods"]["chosen"]
        a = x["apply_s"]
        cells += [f"{x['build_s']:.0f}", f"{a['median']:.1f} ({a['min']:.1f}-{a['max']:.1f})", mb(x["apply_rss"])]
        q = x.get("qemu_apply_s")
        cells += [f"{q['median']:.1f}" if q else "-", mb(x["qemu_apply_rss"]) if q else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_table(rows: list[dict[str, Any]]) -> str:
    """Seconds each method took to make its delta on this controller, and what the whole-tar patch takes to apply."""
    names = [n for n in (rows[0]["methods"] if rows else {}) if "build_s" in rows[0]["methods"][n]]
    head = ["pair", *[f"{n} build s" for n in names], "tar-zstd apply s", "tar-zstd apply RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["methods"]
        cells = [f"{r['arch']} {r['package']} {r['old']} → {r['new']}", *[f"{m[n]['build_s']:.0f}" for n in names]]
        cells += [f"{m['tar-zstd']['apply_s']:.1f}", mb(m["tar-zstd"]["apply_rss"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python tests/bench/delta.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheels", type=Path, required=True, help="where wheels are downloaded once (outside the repo)"
    )
    parser.add_argument("--only", action="append", help="only these packages (repeatable)")
    parser.add_argument("--arch", action="append", help="only these CPUs (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each apply (median and spread)")
    parser.add_argument("--levels", default="3,19", help="zstd levels of the per-file zstd method")
    parser.add_argument(
        "--qemu", type=Path, help="an arm64 root filesystem with python3 and xdelta3 (apply under qemu-user)"
    )
    parser.add_argument("--json", type=Path, default=Path("dist/bench/delta.json"))
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",") if v]
    rows = []
    for pair in PAIRS:
        if (args.only and pair.package not in args.only) or (args.arch and pair.arch not in args.arch):
            continue
        print(f"measuring {pair.arch} {pair.package} {pair.old} -> {pair.new} ...", file=sys.stderr, flush=True)
        rows.append(measure(pair, args.wheels, args.repeat, levels, args.qemu))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": delta.settings(), "rows": rows}, indent=1) + "\n")
    print(table(rows))
    print()
    print(build_table(rows))


if __name__ == "__main__":
    main()
