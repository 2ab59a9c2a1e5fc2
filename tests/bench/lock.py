"""Lock benchmark: `nox -s lock` per image against `uv pip compile` on the same input, side by side.

    nox -s bench            (or: python tests/bench/lock.py --json dist/bench/lock.json)

Both re-lock from the committed lock (the everyday case: pins kept, hashes written) with
the same requirements, the same target platform, the same indexes and constraints
(pip's configuration here, translated to uv's flags, plus the image's reachable indexes)
and warm caches. Rounds alternate between the two tools and the table shows medians,
because these machines are shared and noisy. Goal (issue 5): within 3x of uv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from horus_pipeline.images import ImageSpec, load_image
from horus_pipeline.lock import lock_inputs, reachable_indexes
from horus_pipeline.lockfile import parse_lock

IMAGES = ("demo-amd64", "demo-arm64")
UV_PLATFORM = {"x86_64": "x86_64", "aarch64": "aarch64"}


def pip_config() -> dict[str, list[str]]:
    """pip's effective index settings here (`pip config list`, PIP_* included), which uv does not read."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True, text=True
    ).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        option = key.split(".", 1)[-1]
        found.setdefault(option, []).extend(value.strip("'\"").split())
    return {k: list(dict.fromkeys(v)) for k, v in found.items()}


def uv_command(spec: ImageSpec, requirements: Path, output: Path, config: dict[str, list[str]]) -> list[str]:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    glibc = "_".join(map(str, spec.target.glibc))
    argv = [uv, "pip", "compile", "--quiet", str(requirements), "-o", str(output), "--generate-hashes"]
    argv += ["--python-platform", f"{UV_PLATFORM[spec.target.arch.name]}-manylinux_{glibc}"]
    argv += ["--python-version", spec.target.python, "--index-strategy", "unsafe-best-match"]
    for url in config.get("index-url", []):
        argv += ["--index-url", url]
    for url in [*config.get("extra-index-url", []), *reachable_indexes(spec.indexes)]:
        argv += ["--extra-index-url", url]
    for path in config.get("find-links", []):
        argv += ["--find-links", path]
    for path in config.get("constraint", []):
        argv += ["--constraint", path]
    return argv


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_image(name: str, rounds: int, work: Path, config: dict[str, list[str]]) -> dict[str, Any]:
    spec = load_image(name)
    requirements = work / f"{name}.in"
    requirements.write_text("\n".join(lock_inputs(spec).requirements) + "\n")
    horus_out, uv_out = work / "horus", work / f"{name}.uv.txt"
    ours = [sys.executable, "-m", "horus_pipeline.lock", "--output-dir", str(horus_out), name]
    theirs = uv_command(spec, requirements, uv_out, config)
    samples: dict[str, list[float]] = {"horus": [], "uv": []}
    for i in range(rounds + 1):  # round 0 warms both caches and is not counted
        shutil.copyfile(spec.lockfile, uv_out)  # uv keeps the committed pins too
        for tool, argv in (("horus", ours), ("uv", theirs)):
            seconds = timed(argv)
            if i:
                samples[tool].append(seconds)
    pins = parse_lock((horus_out / f"{name}.txt").read_text(), horus_out / f"{name}.txt").pins
    uv_pins = parse_lock(uv_out.read_text(), uv_out).pins
    horus_s, uv_s = statistics.median(samples["horus"]), statistics.median(samples["uv"])
    return {
        "horus_s": horus_s,
        "uv_s": uv_s,
        "ratio": horus_s / uv_s,
        "pins": len(pins),
        "same_pins_as_uv": {k: p.version for k, p in pins.items()} == {k: p.version for k, p in uv_pins.items()},
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/bench/lock.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=Path("dist/bench/lock.json"), help="where to write results")
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 7 (a smoke run, not for quoting)")
    parser.add_argument("images", nargs="*", default=list(IMAGES), metavar="IMAGE", help="images to lock")
    args = parser.parse_args(argv)
    config = pip_config()
    with tempfile.TemporaryDirectory(prefix="horus-lock-bench-") as tmp:
        results = {name: bench_image(name, 2 if args.quick else 7, Path(tmp), config) for name in args.images}
    print(f"{'image':<12} {'horus lock':>11} {'uv':>8} {'ratio':>6} {'pins':>5}  same pins as uv")
    for name, r in results.items():
        times = f"{r['horus_s']:>10.2f}s {r['uv_s']:>7.2f}s {r['ratio']:>5.1f}x"
        print(f"{name:<12} {times} {r['pins']:>5}  {r['same_pins_as_uv']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
